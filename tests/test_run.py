"""`bin/run` as a user runs it: what dies is started again, Ctrl-C stops everything.

Each class starts one `bin/run` (SQLite in a temporary directory, the packaged test model,
key prefix and queues of its own) and shares it between its tests. The machine's Redis on
6379 is only ever used, never stopped: the Redis that tests kill is one bin/run started.
"""

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import redis

from tests.chat.test_live import LONG, Chat
from tests.conftest import ROOT, free_port

SHARED_REDIS_URL = "redis://127.0.0.1:6379/0"


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name: [state, ppid, ...]."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def descendants(pid: int) -> dict[int, str]:
    """Every live process below `pid`, with its command name."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat(int(entry.name))
        if fields is not None and fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                with contextlib.suppress(OSError):
                    found[child] = Path(f"/proc/{child}/comm").read_text().strip()
                frontier.append(child)
    return found


def redis_ping(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


class RunningProduct:
    """One `bin/run` started as a user would, and what its supervisor has logged."""

    def __init__(self, tmp: Path, redis_url: str) -> None:
        self.redis_url = redis_url
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.key_prefix = f"helpline-runtest-{uuid.uuid4().hex[:8]}"
        self.log_path = tmp / "run.log"
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
            "DATA_DIR": str(tmp),
            "MEDIA_ROOT": str(tmp / "media"),
            "PORT": str(self.port),
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": self.key_prefix,
            "CELERY_QUEUE_SUFFIX": f"-runtest-{self.key_prefix[-8:]}",
            "INFERENCE_MODEL": "smollm2-135m-instruct",
            "GENERATION_STALE_SECONDS": "3",
            "GENERATION_HEARTBEAT_SECONDS": "0.5",
            "GENERATION_MAX_TOKENS": "300",
            "KNOWLEDGE_ANSWER_CHECK": "false",
        }
        env.pop("DJANGO_SETTINGS_MODULE", None)  # bin/run exports webapp.settings
        with self.log_path.open("wb") as log:
            # Its own session, like a terminal's job: a Ctrl-C goes to the whole group.
            self.proc = subprocess.Popen(
                [str(ROOT / "bin" / "run")],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if match := re.search(pattern, self.log(), re.MULTILINE):
                return match
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} in bin/run's log:\n{self.log()[-6000:]}")

    def pids(self, name: str) -> list[int]:
        """The pids the supervisor started `name` with, oldest first."""
        return [
            int(p) for p in re.findall(rf"^==> {name} started \(pid (\d+)\)$", self.log(), re.M)
        ]

    def pid(self, name: str) -> int:
        self.wait_for(rf"^==> {name} started \(pid \d+\)$")
        return self.pids(name)[-1]

    def new_pid(self, name: str, old: int, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (pid := self.pids(name)[-1]) != old:
                return pid
            time.sleep(0.1)
        raise AssertionError(f"{name} was not started again:\n{self.log()[-6000:]}")

    def wait_healthy(self, timeout: float = 120) -> None:
        """Until /healthz says 200: web, Redis, database and a worker with its model."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/healthz", timeout=5).status_code == 200:
                    return
            time.sleep(0.5)
        raise AssertionError(f"/healthz did not say 200 in {timeout} s:\n{self.log()[-6000:]}")

    def ctrl_c(self, timeout: float = 20) -> int | None:
        """SIGINT to bin/run's process group, as a terminal's Ctrl-C; its exit code."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        """Stop it and everything below it, whatever state a failed test left it in."""
        below = descendants(self.proc.pid)
        if self.proc.poll() is None and self.ctrl_c() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for pid in below:
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if self.redis_url == SHARED_REDIS_URL:  # flush only what this run wrote
            client = redis.Redis.from_url(SHARED_REDIS_URL)
            keys = list(client.scan_iter(match=f"{self.key_prefix}*", count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])


def shared_redis_pid() -> int:
    info = cast(dict[str, Any], redis.Redis.from_url(SHARED_REDIS_URL).info("server"))
    return int(info["process_id"])


@pytest.fixture(scope="class")
def shared_redis_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProduct]:
    """bin/run with the machine's Redis, which already answers."""
    assert redis_ping(SHARED_REDIS_URL), "the machine's Redis on 6379 does not answer"
    run = RunningProduct(tmp_path_factory.mktemp("run-shared"), SHARED_REDIS_URL)
    try:
        run.wait_for(r"^==> Helpline is running", timeout=240)
        run.wait_healthy()
        yield run
    finally:
        run.close()


@pytest.fixture(scope="class")
def own_redis_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProduct]:
    """bin/run with REDIS_URL at a free port: it starts (and supervises) that Redis."""
    redis_url = f"redis://127.0.0.1:{free_port()}/0"
    assert not redis_ping(redis_url)
    run = RunningProduct(tmp_path_factory.mktemp("run-own-redis"), redis_url)
    try:
        run.wait_for(r"^==> Helpline is running", timeout=240)
        run.wait_healthy()
        yield run
    finally:
        run.close()


async def web_answers(base: str, stop: asyncio.Event) -> tuple[int, list[str]]:
    """Ask /healthz every 0.2 s until `stop`: how many answers, and the refused requests."""
    answered, refused = 0, []
    async with httpx.AsyncClient(timeout=15) as client:
        while not stop.is_set():
            try:
                await client.get(f"{base}/healthz")
                answered += 1
            except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
                refused.append(repr(exc))
            except httpx.TimeoutException:
                pass  # slow on a busy machine, but serving
            await asyncio.sleep(0.2)
    return answered, refused


class TestWithTheMachinesRedis:
    def test_a_redis_that_answers_is_reused_and_never_started(self, shared_redis_run):
        run = shared_redis_run
        before = shared_redis_pid()
        assert "starting one on port" not in run.log()
        assert run.pids("redis") == []
        assert "redis-server" not in descendants(run.proc.pid).values()
        assert shared_redis_pid() == before

    async def test_a_killed_chat_worker_fails_its_answer_and_is_started_again(
        self, shared_redis_run
    ):
        run = shared_redis_run
        web, worker = run.pid("web"), run.pid("chat-worker")
        stop = asyncio.Event()
        watch = asyncio.create_task(web_answers(run.base, stop))
        chat = await Chat(run.base).open()
        await chat.ask(LONG)
        deltas: dict[int, str] = {}
        while len(deltas) < 2:
            event = await chat.recv()
            if event["type"] == "generation.delta":
                deltas[event["seq"]] = event["text"]
        os.kill(worker, signal.SIGKILL)  # mid-answer
        error = await chat.until_settled(deltas, timeout=30)
        assert error["type"] == "generation.error" and error["code"] == "worker_lost"
        stored = chat.stored()[-1]
        assert stored["status"] == "failed"
        assert stored["text"] and stored["text"] == "".join(deltas[s] for s in sorted(deltas))
        await chat.ws.close()

        run.wait_for(r"^==> chat-worker exited with code -9; restarting in 1 s$")
        assert run.new_pid("chat-worker", worker) != worker
        after = await Chat(run.base).open()
        await after.ask("Say hello.")
        done = await after.until_settled({}, timeout=120)
        assert done["type"] == "generation.done" and done["status"] == "done"
        await after.ws.close()

        stop.set()
        answered, refused = await watch
        assert refused == [] and answered > 0, "the web server stopped answering"
        assert run.pids("web") == [web]


class TestWithARedisItStarted:
    async def test_its_redis_is_started_again_after_kill_9_and_the_product_recovers(
        self, own_redis_run
    ):
        run = own_redis_run
        assert run.redis_url != SHARED_REDIS_URL
        old = run.pid("redis")
        port = run.redis_url.rsplit(":", 1)[1].split("/")[0]
        # Redis retitles itself "redis-server 127.0.0.1:PORT": it is this run's, never 6379.
        title = Path(f"/proc/{old}/cmdline").read_text()
        assert title.startswith(f"redis-server 127.0.0.1:{port}") and port != "6379"
        os.kill(old, signal.SIGKILL)
        run.wait_for(r"^==> redis exited with code -9; restarting in 1 s$")
        new = run.new_pid("redis", old)
        deadline = time.monotonic() + 10
        while not redis_ping(run.redis_url) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert redis_ping(run.redis_url) and alive(new) and not alive(old)
        # The workers and the web server reconnect to the new, empty Redis and answer.
        run.wait_healthy(timeout=60)
        chat = await Chat(run.base).open()
        await chat.ask("Say hello.")
        done = await chat.until_settled({}, timeout=120)
        assert done["type"] == "generation.done"
        await chat.ws.close()
        assert len(run.pids("web")) == len(run.pids("chat-worker")) == 1

    def test_ctrl_c_stops_every_process_it_started(self, own_redis_run):
        run = own_redis_run
        below = descendants(run.proc.pid)
        logged = {run.pid(name) for name in ("redis", "chat-worker", "batch-worker", "web")}
        assert logged <= set(below), f"{logged} not all running under bin/run: {below}"
        began = time.monotonic()
        assert run.ctrl_c(timeout=15) == 0
        deadline = began + 15
        while any(alive(pid) for pid in below) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in below if alive(pid)] == []
        assert run.log().rstrip().endswith("==> Stopped.")
        assert not redis_ping(run.redis_url)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{run.base}/healthz", timeout=5)
