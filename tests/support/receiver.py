"""A real HTTP receiver for outgoing webhooks: records each request and answers as told.

    with Receiver() as hook:                 # listens on 127.0.0.1, a free port
        hook.answer(500)                     # the next request gets a 500 ...
        hook.answer(200, {"text": "pong"})   # ... the one after, a reply; then 200 "" for the rest
        ... hook.requests                    # [Received(path, headers, body)], in order
        hook.hold()                          # requests wait (received, unanswered) until release()
"""
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self):
        return json.loads(self.body)


class Receiver:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.requests: list[Received] = []
        self.arrived = threading.Condition()
        self._answers: list[tuple[int, bytes, dict]] = []
        self._released = threading.Event()
        self._released.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.arrived:
                    receiver.requests.append(Received(self.path, dict(self.headers), body))
                    answer = receiver._answers.pop(0) if receiver._answers else (200, b"", {})
                    receiver.arrived.notify_all()
                receiver._released.wait(30)
                status, content, headers = answer
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args):  # quiet
                pass

        family_host = host.strip("[]")
        server_class = ThreadingHTTPServer
        if ":" in family_host:
            import socket

            class V6(ThreadingHTTPServer):
                address_family = socket.AF_INET6
            server_class = V6
        self.server = server_class((family_host, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        host_in_url = f"[{family_host}]" if ":" in family_host else family_host
        self.url = f"http://{host_in_url}:{self.port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, status: int, body: dict | str | None = None, headers: dict | None = None) -> None:
        """The answer to the next request not yet answered (planned in order)."""
        if isinstance(body, dict):
            content, headers = json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}
        else:
            content = (body or "").encode()
        self._answers.append((status, content, headers or {}))

    def hold(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def wait_for(self, count: int, timeout: float = 15) -> list[Received]:
        """The requests, once at least count have arrived (fails after timeout)."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{len(self.requests)} requests arrived, not {count}, within {timeout} s")
            return list(self.requests)

    def __enter__(self) -> "Receiver":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
