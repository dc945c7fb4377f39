"""Another web site for browser tests: a real server on this machine at http://localhost:<port>/.

localhost is another site than 127.0.0.1, where the app is served. A page Playwright makes up
(route.fulfill) would not do: Chromium counts it as the public internet and keeps it from
loopback addresses whatever the app's own headers say.
"""
import contextlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextlib.contextmanager
def another_site(html: str):
    """Serve html at every path; yields the site's URL."""
    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
