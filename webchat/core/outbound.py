"""HTTP requests to addresses people typed (outgoing webhooks), never to the server's own network.

A URL someone configures could name the metadata service (169.254.169.254), a database on the
private network or the server itself (SSRF). So every connection goes through guarded_connection:
it resolves the host, refuses when ANY resolved address is loopback, private (RFC 1918, ULA),
link-local, multicast, unspecified, reserved or otherwise not public (an IPv4-mapped IPv6 address
is judged as the IPv4 address it carries), and connects only to the addresses it checked. Checking
at connect time (not only when the URL is saved) is what stops a name that resolves elsewhere later
(DNS rebinding). Redirects are followed by post() itself, at most MAX_REDIRECTS, each hop through
the same guard. Hosts an administrator lists (WEBHOOK_ALLOWED_HOSTS, as written in the URL) are
exempt: an internal service on purpose.
"""
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

MAX_REDIRECTS = 3
MAX_ANSWER_BYTES = 64 * 1024  # of a response body read (a reply's {"text": …})
REDIRECTS = (301, 302, 303, 307, 308)
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the IPv4 address in its last 32 bits

Resolver = Callable[[str, int], list[tuple]]  # socket.getaddrinfo's answer, for (host, port)


class Refused(Exception):
    """An address (or URL) we will not connect to; str() says why, without the request's content."""


def _resolve(host: str, port: int) -> list[tuple]:
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def forbidden(address: str) -> str | None:
    """Why this IP address is not one to connect to ("loopback", "private" …), or None if public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # a scope (fe80::1%eth0) says nothing more
    if ip.version == 6:  # an IPv6 address that carries an IPv4 one reaches it: judge that one
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
    for kind, test in (("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback),
                       ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
                       ("private", ip.is_private), ("reserved", ip.is_reserved)):
        if test:
            return kind
    if not ip.is_global:  # shared (100.64/10), documentation and other special ranges
        return "non-public"
    return None


def host_of(url: str) -> str:
    """The URL's host as written, lower-case, without IPv6 brackets."""
    return (urlsplit(url).hostname or "").lower()


def check_url(url: str) -> None:
    """Refused unless the URL is http(s) with a host (no user:password@, which would be logged)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not one
    except ValueError as e:
        raise Refused("it is not a valid URL") from e
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("it must start with https:// (or http://) and name a host")
    if parts.username or parts.password:
        raise Refused("it must not carry a user name or password")


def safe_addresses(host: str, port: int, allowed: frozenset[str], resolver: Resolver = _resolve) -> list[tuple]:
    """The host's addresses (getaddrinfo entries) if every one may be connected to; Refused
    otherwise. An allow-listed host is taken as it resolves."""
    try:
        infos = resolver(host, port)
    except (socket.gaierror, UnicodeError) as e:
        raise LookupError(f"{host} could not be resolved") from e
    if not infos:
        raise LookupError(f"{host} could not be resolved")
    if host.lower() not in allowed:
        for info in infos:
            address = info[4][0]
            why = forbidden(address)
            if why:
                raise Refused(f"{host} resolves to {address}, a {why} address")
    return infos


def guarded_connection(host: str, port: int, timeout: float | None, allowed: frozenset[str],
                       resolver: Resolver = _resolve) -> socket.socket:
    """A socket connected to one of the host's checked addresses (the first that answers)."""
    last_error: OSError | None = None
    for family, kind, proto, _name, address in safe_addresses(host, port, allowed, resolver):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except OSError as e:
            sock.close()
            last_error = e
    raise last_error or OSError(f"could not connect to {host}")


class _Guarded:
    """urllib3's connection with its socket made by guarded_connection (TLS still checks the host name)."""

    allowed: frozenset[str] = frozenset()
    resolver: Resolver = staticmethod(_resolve)

    def _new_conn(self) -> socket.socket:
        return guarded_connection(self._dns_host, self.port, self.timeout, self.allowed, self.resolver)


class _GuardedHTTP(_Guarded, HTTPConnection):
    pass


class _GuardedHTTPS(_Guarded, HTTPSConnection):
    pass


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes  # at most MAX_ANSWER_BYTES
    content_type: str


def _pool(url: str, timeout: float, allowed: frozenset[str], resolver: Resolver):
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    base = _GuardedHTTPS if secure else _GuardedHTTP
    connection = type("Connection", (base,), {"allowed": allowed, "resolver": staticmethod(resolver)})
    pool_class = HTTPSConnectionPool if secure else HTTPConnectionPool
    pool = pool_class(parts.hostname, parts.port or (443 if secure else 80), maxsize=1, retries=False,
                      timeout=urllib3.Timeout(connect=timeout, read=timeout))
    pool.ConnectionCls = connection
    return pool


def post(url: str, body: bytes, headers: dict[str, str], timeout: float, allowed: frozenset[str],
         resolver: Resolver = _resolve) -> Answer:
    """POST body to url through the guard, following at most MAX_REDIRECTS redirects (each hop
    posts the same body and is checked anew). Refused for a forbidden address or URL; LookupError
    for a host that does not resolve; urllib3's errors (timeouts, refused connections) otherwise."""
    for _hop in range(MAX_REDIRECTS + 1):
        check_url(url)
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        pool = _pool(url, timeout, allowed, resolver)
        try:
            response = pool.urlopen("POST", path, body=body, headers=headers, redirect=False,
                                    preload_content=False, assert_same_host=False)
            try:
                location = response.headers.get("Location")
                if response.status in REDIRECTS and location:
                    url = urljoin(url, location)
                    continue
                return Answer(response.status, response.read(MAX_ANSWER_BYTES),
                              response.headers.get("Content-Type", ""))
            finally:
                response.release_conn()
                response.close()
        finally:
            pool.close()
    raise Refused(f"more than {MAX_REDIRECTS} redirects")
