"""Many widget connections on one web process: memory per held socket, and streaming beside them.

Starts its own daphne, a Celery worker (threads) and the token replay server
(bench.replay_server) as bench.stream_overhead does, then:

1. baseline (after one warm-up round): `--streaming` chats stream at once (replay
   backend), with nothing else connected;
2. opens `--sockets` conversations' sockets (POST /api/v1/conversations, then the socket)
   and holds them idle, each sending a `ping` every `--heartbeat` seconds, and reads the
   web process's resident memory before and after;
3. the same `--streaming` chats again, while all those sockets stay connected.

It prints the memory added per socket and the streaming figures of 1 and 3 with their
ratios (the same run, the same machine).

    .venv/bin/python -m bench.sockets [--sockets 1000] [--streaming 64]
"""

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

from bench.stream_overhead import Bench, PathStats, log, parse_args

QUESTION = "Tell me about your opening hours and how to reach support."


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def hold(bench: Bench, conversations: list[dict[str, Any]], heartbeat: float,
               opened: asyncio.Event, stop: asyncio.Event) -> int:  # fmt: skip
    """Open every conversation's socket and keep it alive until `stop`; the number that
    stayed connected to the end."""
    from websockets.asyncio.client import connect

    base = bench.web_base.replace("http://", "ws://", 1)
    gate = asyncio.Semaphore(50)  # handshakes in flight at once
    ready = 0
    alive = 0

    async def one(conversation: dict[str, Any]) -> None:
        nonlocal ready, alive
        async with gate:
            ws = await connect(base + conversation["ws_url"], open_timeout=30, proxy=None)
        ready += 1
        if ready == len(conversations):
            opened.set()
        try:
            while not stop.is_set():
                with_timeout = asyncio.wait_for(stop.wait(), timeout=heartbeat)
                try:
                    await with_timeout
                except TimeoutError:
                    await ws.send(json.dumps({"type": "ping"}))
                    await ws.recv()  # the pong
            alive += 1
        finally:
            await ws.close()

    await asyncio.gather(*(one(c) for c in conversations))
    return alive


async def stream(bench: Bench, count: int) -> PathStats:
    conversations = await bench.stack_conversations(count)
    started = time.perf_counter()
    samples = await bench.stack_run([QUESTION] * count, count, conversations)
    return PathStats.of(samples, time.perf_counter() - started, {})


async def run(bench: Bench, sockets: int, streaming: int, heartbeat: float) -> dict[str, Any]:
    web = bench.procs.pid("daphne")
    assert web is not None
    await stream(bench, streaming)  # warm: the worker's threads, the first streams
    baseline = await stream(bench, streaming)
    log(f"baseline: {streaming} streams, TTFT p50 {baseline.ttft_p50_ms:.0f} ms")
    before = rss_mb(web)
    conversations = await bench.stack_conversations(sockets)
    opened, stop = asyncio.Event(), asyncio.Event()
    holding = asyncio.create_task(hold(bench, conversations, heartbeat, opened, stop))
    t0 = time.perf_counter()
    await asyncio.wait_for(opened.wait(), timeout=600)
    connect_s = time.perf_counter() - t0
    await asyncio.sleep(max(2.0, heartbeat + 1))  # every socket has sent a heartbeat
    after = rss_mb(web)
    log(f"{sockets} sockets open in {connect_s:.1f} s; web RSS {before:.0f} -> {after:.0f} MB")
    loaded = await stream(bench, streaming)
    stop.set()
    alive = await holding
    return {
        "sockets": sockets,
        "held_to_the_end": alive,
        "connect_s": round(connect_s, 1),
        "web_rss_before_mb": round(before, 1),
        "web_rss_after_mb": round(after, 1),
        "added_mb": round(after - before, 1),
        "kb_per_socket": round((after - before) * 1024 / sockets, 1),
        "baseline": baseline,
        "loaded": loaded,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--streaming", type=int, default=64)
    parser.add_argument("--heartbeat", type=float, default=20.0, help="seconds between pings")
    own, rest = parser.parse_known_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 4 * own.sockets + 1024))  # this process and daphne's
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    args = parse_args(["--levels", str(own.streaming), "--replay-all", *rest])
    bench = Bench(args)
    try:
        bench.setup()
        bench.worker_start("replay", own.streaming)
        figures = asyncio.run(run(bench, own.sockets, own.streaming, own.heartbeat))
    finally:
        bench.cleanup()
    base, loaded = figures["baseline"], figures["loaded"]
    print(f"$ python -m bench.sockets {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(
        f"{figures['sockets']} sockets held ({figures['held_to_the_end']} to the end), opened in "
        f"{figures['connect_s']} s; web process {figures['web_rss_before_mb']} -> "
        f"{figures['web_rss_after_mb']} MB (+{figures['added_mb']} MB, "
        f"{figures['kb_per_socket']} KB a socket); open files limit {wanted}"
    )
    header = ("streams", "beside", "TTFT p50 ms", "TTFT p99 ms", "tok/s p50", "errors")
    print(" ".join(f"{h:>12}" for h in header))
    for name, stats in (("none", base), (str(figures["sockets"]), loaded)):
        print(
            f"{own.streaming:>12} {name:>12} {stats.ttft_p50_ms:>12.0f} {stats.ttft_p99_ms:>12.0f} "
            f"{stats.tokens_per_s_p50:>12.1f} {stats.errors:>12}"
        )
    print(
        f"ratios (beside {figures['sockets']} / none): TTFT p50 "
        f"{loaded.ttft_p50_ms / base.ttft_p50_ms:.2f}, tokens/s "
        f"{loaded.tokens_per_s_p50 / base.tokens_per_s_p50:.2f}"
    )
    return 0 if not loaded.errors and figures["held_to_the_end"] == figures["sockets"] else 1


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    sys.exit(main())
