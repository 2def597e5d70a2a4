"""The baseline for bench/throughput.py: a no-op task through plain Huey on the same Redis.

Each run counts itself with one Redis INCR, so the benchmark sees when all have run.
Consumers run `huey_consumer bench.plain_huey.huey` with BENCH_REDIS_URI set.
"""

from __future__ import annotations

import os

from huey import RedisHuey

huey = RedisHuey("bench-plain", url=os.environ["BENCH_REDIS_URI"], results=False, utc=True)
DONE_KEY = "bench-plain:done"


@huey.task()
def noop() -> None:
    huey.storage.conn.incr(DONE_KEY)
