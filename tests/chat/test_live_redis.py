"""Redis restarts (empty) while one answer streams and another waits: both end, and the
next question is answered. On a Redis of the test's own, stopped by pid: the machine's
shared Redis is never touched."""

import asyncio
import json
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import websockets

from tests.conftest import BIN, ROOT, free_port, process_env, wait_until_answering

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
LONG = "Write a long story about a lighthouse keeper, at least 400 words."


class OwnRedis:
    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--logfile",
                str(self.log_dir / f"redis-{self.port}.log"),
            ],
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("the test's Redis did not start")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


class Stack:
    """daphne and a Celery worker on the test database and a Redis of their own."""

    def __init__(self, db_name: str, log_dir: Path) -> None:
        self.redis = OwnRedis(log_dir)
        run = uuid.uuid4().hex[:8]
        self.env = process_env(
            db_name,
            REDIS_URL=self.redis.url,
            REDIS_KEY_PREFIX=f"helpline-redistest-{run}",
            CELERY_QUEUE_SUFFIX=f"-redistest-{run}",
            GENERATION_REQUEUE_SECONDS="5",
        )
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def _spawn(self, name: str, *argv: str) -> None:
        log = (self.log_dir / f"{name}.log").open("ab")
        self.procs.append(
            subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        )

    def start(self) -> None:
        self.redis.start()
        suffix = self.env["CELERY_QUEUE_SUFFIX"]
        self._spawn(
            "worker",
            str(BIN / "celery"),
            "-A",
            "webapp",
            "worker",
            "-P",
            "solo",
            "-Q",
            f"chat{suffix},batch{suffix}",
            "-n",
            f"redistest-{self.port}@localhost",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "info",
        )
        self._spawn(
            "web",
            str(BIN / "daphne"),
            "-b",
            "127.0.0.1",
            "-p",
            str(self.port),
            "webapp.asgi:application",
        )
        wait_until_answering(f"{self.base}/healthz")
        deadline = time.monotonic() + 60
        while httpx.get(f"{self.base}/healthz", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "the worker did not come up"
            time.sleep(0.3)

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.redis.proc is not None and self.redis.proc.poll() is None:
            self.redis.kill()


@pytest.fixture
def stack(test_db_name: str, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(test_db_name, tmp_path)
    try:
        running.start()
        yield running
    finally:
        running.stop()


class Visitor:
    """One conversation through the public API and socket, reconnecting as the page does."""

    def __init__(self, base: str) -> None:
        body = httpx.post(f"{base}/api/v1/conversations", json={}, timeout=10).json()
        self.base, self.id, self.token = base, body["id"], body["token"]
        self.ws_url = base.replace("http", "ws", 1) + body["ws_url"]
        self.ws: Any = None
        self.generation_id = ""
        self.deltas: dict[int, str] = {}
        self.queued: list[int] = []

    async def ask(self, text: str) -> None:
        self.ws = await websockets.connect(self.ws_url, open_timeout=10)
        await self.ws.send(json.dumps({"type": "user.message", "text": text, "client_id": "q"}))
        while not self.generation_id:
            event = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
            if event["type"] == "message.created" and event["message"]["role"] == "assistant":
                self.generation_id = event["message"]["generation_id"]

    async def next_event(self, deadline: float) -> dict[str, Any]:
        """The next event; a socket the server closed is reopened and the answer resumed."""
        while True:
            try:
                raw = await asyncio.wait_for(self.ws.recv(), max(deadline - time.monotonic(), 0.1))
                return dict(json.loads(raw))
            except websockets.ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
                assert code in (4503, 1006, None), f"closed with {code}"
                await self._reopen(deadline)

    async def _reopen(self, deadline: float) -> None:
        while True:
            assert time.monotonic() < deadline, "could not reconnect in time"
            await asyncio.sleep(0.5)
            try:
                self.ws = await websockets.connect(self.ws_url, open_timeout=5)
                after = max(self.deltas, default=0)
                resume = {"type": "resume", "generation_id": self.generation_id, "after_seq": after}
                await self.ws.send(json.dumps(resume))
                return
            except (OSError, websockets.WebSocketException):
                continue

    async def outcome(self, timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            event = await self.next_event(deadline)
            if event["type"] == "generation.delta":
                assert event["seq"] not in self.deltas, "a delta arrived twice"
                self.deltas[event["seq"]] = event["text"]
            elif event["type"] == "generation.queued":
                self.queued.append(event["position"])
            elif event["type"] in ("generation.done", "generation.error"):
                return event

    def shown(self) -> str:
        return "".join(self.deltas[s] for s in sorted(self.deltas))

    def stored(self) -> dict[str, Any]:
        response = httpx.get(
            f"{self.base}/api/v1/conversations/{self.id}/messages",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        return dict(response.json()["messages"][-1])


async def test_a_redis_restart_ends_both_answers_and_the_next_is_answered(stack: Stack):
    streaming, waiting = Visitor(stack.base), Visitor(stack.base)
    await streaming.ask(LONG)
    while len(streaming.deltas) < 2:
        event = await streaming.next_event(time.monotonic() + 60)
        if event["type"] == "generation.delta":
            streaming.deltas[event["seq"]] = event["text"]
    await waiting.ask("Say hello.")

    stack.redis.kill()  # restarted empty: the waiting answer's task is gone with it
    await asyncio.sleep(1)
    stack.redis.start()

    first = await streaming.outcome()
    if first["type"] == "generation.error":  # the stream was lost: failed, partial text kept
        assert first["code"] == "stream_lost" and "Error" not in first["detail"]
        assert first.get("text", "").startswith(streaming.shown())
        stored = streaming.stored()
        assert stored["status"] == "failed" and stored["text"].startswith(streaming.shown())
    else:
        assert first["status"] == "done"
    second = await waiting.outcome()  # sent again after GENERATION_REQUEUE_SECONDS
    assert second["type"] == "generation.done" and second["status"] == "done"
    assert waiting.stored()["text"]

    after = Visitor(stack.base)  # nobody is told that a stranded answer is ahead of them
    await after.ask("Say hi.")
    done = await after.outcome(timeout=60)
    assert done["type"] == "generation.done"
    assert all(position == 0 for position in after.queued)
    for visitor in (streaming, waiting, after):
        await visitor.ws.close()
