"""asyncio_bridge.py — gort promises in an asyncio program, both ways.

  1. Work runs in gort goroutines (gort.spawn returns a gort Promise) and the
     asyncio code awaits the promises with asyncio.gather, as if they were
     asyncio futures. The work here is hashing big buffers with hashlib,
     which releases the GIL, plus a gort.sleep (which parks the goroutine).
  2. A goroutine produces values on a gort.Chan; asyncio reads them with
     `async for` (cancellation-safe: a cancelled receive takes nothing).
  3. The other way round: asyncio produces a value (a coroutine); a
     goroutine blocks on it through gort.from_asyncio(coro).result().

Meanwhile a ticker coroutine keeps ticking every 10 ms on the asyncio loop:
the loop never waits on gort, it is woken when a promise settles. At the end
the example prints whether the ticker ever fell behind by more than 50 ms.
Run: python examples/asyncio_bridge.py (output is the same on every run).
"""
import asyncio
import hashlib
import time
from typing import Any

import gort


# ---- 1. goroutines whose results asyncio awaits ------------------------------
def checksum(name: str, size_mib: int, rounds: int) -> str:
    """Runs as a Python goroutine (on gort's executor thread, not the asyncio
    thread). hashlib drops the GIL for big buffers; gort.sleep parks."""
    data = bytes(size_mib << 20)
    digest = b""
    for _ in range(rounds):
        digest = hashlib.sha256(data + digest).digest()
        gort.sleep(0.01)
    return f"{name}: {digest.hex()[:16]}"


# ---- 2. a goroutine feeding a channel ------------------------------------------
def producer(ch: "gort.Chan[str]") -> None:
    for word in ("hello", "from", "a", "goroutine"):
        gort.sleep(0.02)
        ch.send(word)
    ch.close()


# ---- 3. a goroutine waiting for asyncio ---------------------------------------------
async def load_config() -> dict[str, int]:
    """Plain asyncio code: it could be an aiohttp request; here, a sleep."""
    await asyncio.sleep(0.05)
    return {"scale": 7}


def scaler(config_promise: "gort.Promise[dict[str, int]]", values: list[int]) -> list[int]:
    """A goroutine that needs something only asyncio can produce: it parks on
    the promise (the asyncio loop keeps running), then does its work."""
    config = config_promise.result()
    return [v * config["scale"] for v in values]


# ---- the ticker: proof that the loop stays responsive ----------------------------
async def ticker(stop: asyncio.Event, stats: dict[str, Any]) -> None:
    last = time.monotonic()
    while not stop.is_set():
        await asyncio.sleep(0.01)
        now = time.monotonic()
        stats["ticks"] += 1
        stats["max_gap"] = max(stats["max_gap"], now - last)
        last = now


async def main() -> None:
    stop = asyncio.Event()
    stats: dict[str, Any] = {"ticks": 0, "max_gap": 0.0}
    tick_task = asyncio.create_task(ticker(stop, stats))

    # 1. three goroutines, awaited together; gather keeps the input order
    results = await asyncio.gather(
        gort.spawn(checksum, "a", 8, 5),
        gort.spawn(checksum, "b", 16, 3),
        gort.spawn(checksum, "c", 4, 10),
    )
    for line in results:
        print("goroutine result", line)

    # 2. a channel read from asyncio until it is closed and drained
    ch: gort.Chan[str] = gort.Chan()
    gort.go(producer, ch)
    words = [word async for word in ch]
    print("received over a gort.Chan:", " ".join(words))

    # 3. a gort Promise settled by asyncio, consumed by a goroutine
    config = gort.from_asyncio(load_config())    # the running loop runs it
    scaled = await gort.spawn(scaler, config, [1, 2, 3])
    print("goroutine used the asyncio-produced config:", scaled)

    stop.set()
    await tick_task
    print("asyncio loop kept ticking while goroutines worked:",
          "yes" if stats["ticks"] > 10 and stats["max_gap"] < 0.05 else
          f"NO (max gap {stats['max_gap'] * 1000:.0f} ms)")


if __name__ == "__main__":
    asyncio.run(main())
