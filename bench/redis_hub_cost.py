"""CPU one worker spends on Redis traffic: its hub listener per publication, and the live state's
online/views reads per message (issue 26, goal 5). Not a test: it prints figures.

In one gevent process (the "worker") it makes the hub of --app-dir (default this checkout),
subscribes one counting connection to one chat's channel, and has a child process publish, as
another worker would, --publications payloads of --size bytes: one in --listened-every to that
chat, the rest to channels nobody here listens to (other chats, program:, user:). It reports the
worker's CPU (time.process_time, so the machine's load matters less than for wall time) from the
first publication to the last, per publication published. Then RedisLiveState.online() and
views() for --members users, --repeat times: CPU per call.

    .venv/bin/python bench/redis_hub_cost.py
    .venv/bin/python bench/redis_hub_cost.py --app-dir /tmp/webchat-rev    # an older commit

The Redis parser is whatever the running venv has (hiredis if installed); run it with another
venv's python to compare. Uses REDIS_URL or redis://127.0.0.1:6379/0, channel ids at a random
offset.
"""
import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from gevent import monkey

monkey.patch_all()

import gevent  # noqa: E402
import gevent.event  # noqa: E402

PUBLISHER = """
import sys, redis
url, first, listened, every, count, size, batch = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), \
    int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
r = redis.Redis.from_url(url)
payload = "otherhost000\\n" + "x" * size
others = [f"webchat:chat:{first + i}" for i in range(1, 50)] + [f"webchat:program:{first}", f"webchat:user:{first}"]
pipe = r.pipeline(transaction=False)
for i in range(count):
    pipe.publish(listened if i % every == 0 else others[i % len(others)], payload)
    if len(pipe) == batch:
        pipe.execute()
pipe.publish(listened, "otherhost000\\nEND")
pipe.execute()
"""


class Counter:
    def __init__(self) -> None:
        self.count = 0
        self.first_cpu = None
        self.done = gevent.event.Event()

    def deliver(self, delivery) -> None:
        if self.first_cpu is None:
            self.first_cpu = time.process_time()
        if delivery.text == "END":
            self.done.set()
        else:
            self.count += 1


def _redis_cpu(client) -> float:
    info = client.info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--app-dir", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--publications", type=int, default=20000)
    parser.add_argument("--listened-every", type=int, default=4,
                        help="one publication in this many goes to the listened chat (4: one worker of four)")
    parser.add_argument("--size", type=int, default=1200, help="payload bytes (a message frame is ~1.2 KB)")
    parser.add_argument("--listeners", type=int, default=1,
                        help="hubs (as if workers) subscribed to the listened chat, all in this process")
    parser.add_argument("--batch", type=int, default=200,
                        help="publications per round trip (1: one PUBLISH at a time, as a lone send does)")
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    sys.path.insert(0, args.app_dir)
    from redis.utils import HIREDIS_AVAILABLE

    from webchat.realtime.redis_hub import RedisHub, RedisLiveState
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    first = random.randrange(10**8, 9 * 10**8)

    hubs = [RedisHub(url) for _ in range(args.listeners)]
    counters = [Counter() for _ in hubs]
    for hub, counter in zip(hubs, counters, strict=True):
        hub.subscribe(f"chat:{first}", counter)
    gevent.sleep(0.5)  # the listener is up and subscribed (the old hub subscribes asynchronously)
    redis_cpu = _redis_cpu(hub.redis)
    start = time.process_time()
    publisher = subprocess.Popen([sys.executable, "-c", PUBLISHER, url, str(first), f"webchat:chat:{first}",
                                  str(args.listened_every), str(args.publications), str(args.size), str(args.batch)])
    for counter in counters:
        counter.done.wait(120)
    cpu = (time.process_time() - min(c.first_cpu or start for c in counters)) / len(hubs)
    publisher.wait()
    redis_cpu = _redis_cpu(hub.redis) - redis_cpu
    print(f"app {args.app_dir}, hiredis {HIREDIS_AVAILABLE}")
    print(f"listener (each of {len(hubs)}; publisher: {args.batch} per round trip): {args.publications} publications "
          f"({counter.count} to the listened chat): "
          f"{cpu * 1e6 / args.publications:.1f} µs CPU per publication, "
          f"{cpu * 1e6 / max(counter.count, 1):.1f} per listened one; redis-server "
          f"{redis_cpu * 1e6 / args.publications:.1f} µs CPU per publication (INFO cpu: includes anyone else's use)")

    live = RedisLiveState(url)
    ids = list(range(first, first + args.members))
    for user_id in ids[::10]:  # a tenth online, viewing something
        live.tab_opened(user_id, "t")
        live.set_view(user_id, "t", "chat:1")
    live.online(ids)
    redis_cpu, start = _redis_cpu(live.redis), time.process_time()
    for _ in range(args.repeat):
        online = live.online(ids)
    online_cpu = (time.process_time() - start) / args.repeat
    online_redis, redis_cpu, start = (_redis_cpu(live.redis) - redis_cpu) / args.repeat, _redis_cpu(live.redis), \
        time.process_time()
    for _ in range(args.repeat):
        live.views(ids)
    views_cpu = (time.process_time() - start) / args.repeat
    views_redis = (_redis_cpu(live.redis) - redis_cpu) / args.repeat
    for user_id in ids[::10]:
        live.tab_closed(user_id, "t")
    print(f"live state, {args.members} users ({len(online)} online): online() {online_cpu * 1e3:.2f} ms CPU, "
          f"views() {views_cpu * 1e3:.2f} ms CPU; redis-server {online_redis * 1e3:.2f} and {views_redis * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
