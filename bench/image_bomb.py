"""Pictures that decode huge: how much does one worker's memory rise when they are sent?

Starts the app of --checkout (default this one; its own .venv, so an older checkout runs its own
code) under gunicorn -k gevent, one worker, SQLite in a temp dir, the send budget raised, on
127.0.0.1: a fresh server for each row, warmed up with one small picture. Each picture is sent
once, then by four people at once (threads, one multipart POST each, as the page's uploader
does). A row prints the worker's peak RSS growth (VmHWM, reset through /proc/<pid>/clear_refs,
minus VmRSS before), its RSS after, the row's wall time, the answers' status codes and what the
chat shows for the files.

    .venv/bin/python bench/image_bomb.py [--checkout /path/to/webchat] [--rounds 1]

Pictures: a 7000×7000 RGBA PNG of zeros (~190 KB; 187 MiB decoded), a 3500×3500 RGBA PNG of
zeros (47 MiB decoded), a 9248×6936 JPEG photo (a gradient, ~1 MB; 64 megapixels).
Not a test: nothing asserts. tests/test_attachments.py checks the bounds against a real worker.
"""
import argparse
import http.client
import io
import re
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

from bench.checkout_server import CheckoutServer  # noqa: E402
from tests.support.wsclient import Person, memory_kib, reset_peak, server_worker_pids  # noqa: E402

HERE = Path(__file__).resolve().parent.parent


def pictures() -> dict[str, tuple[str, bytes]]:
    def encode(image, kind, **options):
        buffer = io.BytesIO()
        image.save(buffer, kind, **options)
        return buffer.getvalue()
    return {
        "PNG 7000x7000 RGBA zeros": ("bomb.png", encode(Image.new("RGBA", (7000, 7000)), "PNG")),
        "PNG 3500x3500 RGBA zeros": ("square.png", encode(Image.new("RGBA", (3500, 3500)), "PNG")),
        "JPEG 9248x6936 photo": ("photo.jpg", encode(Image.linear_gradient("L").resize((9248, 6936)).convert("RGB"),
                                                     "JPEG", quality=85)),
    }


def upload(person: Person, chat: int, name: str, content: bytes) -> int:
    """Send one file as the page's uploader does; the answer's status (Person.upload gives up after 30 s)."""
    boundary = uuid.uuid4().hex
    fields = [("csrf_token", None, person.csrf().encode()), ("client_id", None, str(uuid.uuid4()).encode()),
              ("files", name, content)]

    def part(field, filename, value):
        disposition = f'form-data; name="{field}"' + (f'; filename="{filename}"' if filename else "")
        return f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
    body = b"".join(part(*f) for f in fields) + f"--{boundary}--\r\n".encode()
    connection = http.client.HTTPConnection(person.host, person.port, timeout=600)
    try:
        connection.request("POST", f"/chats/{chat}/attachments", body=body, headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}", "HX-Request": "true",
            "Cookie": "; ".join(f"{k}={v}" for k, v in person.cookies.items())})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()






def shown_as(page: str, name: str) -> str:
    if re.search(rf'<img [^>]*alt="{re.escape(name)}"', page):
        return "thumbnail"
    if "too large to preview" in page:
        return "download, too large to preview"
    return "download" if name in page else "not sent"


def row(server: CheckoutServer, worker: int, label: str, name: str, content: bytes, senders: int) -> None:
    people = [Person.register(server.url, "bomb") for _ in range(senders)]
    chat = people[0].create_chat("bench", people[1:])
    time.sleep(0.3)
    exact = reset_peak(worker)
    before = memory_kib(worker)
    started = time.perf_counter()
    with ThreadPoolExecutor(senders) as pool:
        statuses = list(pool.map(lambda p: upload(p, chat, name, content), people))
    seconds = time.perf_counter() - started
    after = memory_kib(worker)
    peak = (after["VmHWM"] - before["VmRSS"]) / 1024
    shown = {shown_as(people[0].get(f"/chats/{chat}").text, name)}
    print(f"{label:26} {senders:>2}x {len(content) / 1024:>7.0f} KiB {before['VmRSS'] / 1024:>7.1f} MiB "
          f"{peak:>+8.1f} MiB{'' if exact else '*'} {after['VmRSS'] / 1024:>7.1f} MiB {seconds:>6.2f} s  "
          f"{','.join(map(str, sorted(set(statuses))))}  {', '.join(sorted(shown))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", type=Path, default=HERE, help="the webchat checkout to serve (its .venv)")
    parser.add_argument("--rounds", type=int, default=1, help="times each row is run (default 1)")
    args = parser.parse_args()
    checkout = args.checkout.resolve()
    made = pictures()
    commit = subprocess.run(["git", "-C", str(checkout), "log", "-1", "--format=%h %s"], capture_output=True,
                            text=True).stdout.strip()
    print(f"{checkout} ({commit[:72]})\none worker, a fresh server per row; peak = VmHWM − RSS before "
          f"(* = lifetime peak: clear_refs not writable)\n")
    print(f"{'picture':26} {'at once':>3} {'size':>11} {'RSS before':>11} {'peak':>12} {'RSS after':>11} "
          f"{'time':>8}  status  shown as")
    for _ in range(args.rounds):
        for label, (name, content) in made.items():
            for senders in (1, 4):
                with tempfile.TemporaryDirectory(prefix="webchat-bench-bomb-") as tmp, \
                        CheckoutServer(checkout, Path(tmp), gunicorn_args=("--timeout", "120")) as server:
                    (worker,) = server_worker_pids(server.process.pid)
                    warm_up(server)
                    row(server, worker, label, name, content, senders)


def warm_up(server: CheckoutServer) -> None:
    """One small picture first: Pillow's plugins and libwebp loaded before anything is measured."""
    person = Person.register(server.url, "warm")
    small = io.BytesIO()
    Image.new("RGB", (640, 480), "green").save(small, "PNG")
    person.upload(person.create_chat("warm-up", []), [("warm.png", small.getvalue())], htmx=True)

if __name__ == "__main__":
    main()
