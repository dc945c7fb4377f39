"""Fault injection for tests: a TCP forwarder that can cut a service off and bring it back.

TcpProxy listens on a free port of 127.0.0.1 and forwards each connection to a target (one
thread per direction). cut() closes every forwarded connection and stops listening, so new
connections are refused; restore() listens again on the same port and forwards as before.
stall() leaves every forwarded connection open but forwards nothing more on it, as a half-open
connection does (a laptop lid, a Wi-Fi change, a NAT timeout); new connections are forwarded.
pause() does that to every connection, open or new, until resume(): a proxy that stops
forwarding for a while (the browser sees nothing happen; what it sent meanwhile is lost), after
which new connections are forwarded again and the stalled ones stay stalled.
"""
import contextlib
import socket
import threading


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.accepted = 0
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._stalled: set[socket.socket] = set()
        self._paused = False
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._acceptor: threading.Thread | None = None

    def __enter__(self) -> "TcpProxy":
        self.restore()
        return self

    def __exit__(self, *exc) -> None:
        self.cut()

    @property
    def cut_off(self) -> bool:
        return self._listener is None

    def restore(self) -> None:
        """Listen (again, on the same port) and forward new connections."""
        if self._listener is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        listener.settimeout(0.1)  # the accept loop looks at the stop flag this often
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stop = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, args=(listener, self._stop), daemon=True,
                                          name=f"proxy-{self.port}")
        self._acceptor.start()

    def cut(self) -> None:
        """Stop listening (new connections are refused) and close every forwarded connection."""
        if self._listener is None:
            return
        self._stop.set()
        self._acceptor.join(5)
        self._listener.close()
        self._listener = None
        with self._lock:
            connections, self._connections = self._connections, set()
        for sock in connections:
            _hang_up(sock)

    def stall(self) -> None:
        """Forward nothing more on the connections open now, without closing them."""
        with self._lock:
            self._stalled |= self._connections

    def pause(self) -> None:
        """Forward nothing more on any connection, open now or accepted until resume()."""
        with self._lock:
            self._paused = True
            self._stalled |= self._connections

    def resume(self) -> None:
        """Forward new connections again (the ones stalled by pause() stay so)."""
        with self._lock:
            self._paused = False

    def _accept(self, listener: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _hang_up(client)
                continue
            with self._lock:
                if stop.is_set():  # cut while we were connecting
                    _hang_up(client)
                    _hang_up(upstream)
                    return
                self._connections.update((client, upstream))
                if self._paused:
                    self._stalled.update((client, upstream))
                self.accepted += 1
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if src not in self._stalled:
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._connections.discard(src)
                self._connections.discard(dst)
                self._stalled.discard(src)
                self._stalled.discard(dst)
            _hang_up(src)
            _hang_up(dst)


def _hang_up(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
