"""Fixtures that start real processes: a Celery worker and an ASGI server on the test database."""

import contextlib
import os
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from django.conf import settings

from tests import settings as test_settings
from webapp.redis import redis_sync

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_env(db_name: str, **extra: str) -> dict[str, str]:
    url = f"postgres://postgres@127.0.0.1:5432/{db_name}"
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "HELPLINE_TEST_SERVER": "1",
        **extra,
    }


def wait_until_answering(url: str, timeout: float = 60) -> None:
    """Poll `url` until the server behind it answers at all."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url, timeout=2)
            return
        time.sleep(0.2)
    raise RuntimeError(f"nothing answered at {url} within {timeout} s")


class WorkerProcess:
    """A real `celery worker` on this run's chat queue; tests may kill and restart it."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        hostname = f"test-{os.getpid()}-{time.monotonic_ns()}@localhost"
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                str(BIN / "celery"),
                "-A",
                "webapp",
                "worker",
                "-P",
                "solo",
                "-Q",
                ",".join(test_settings.LIVE_QUEUES.values()),
                "-n",
                hostname,
                "--without-mingle",
                "--without-gossip",
                "-l",
                "info",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        key = f"{settings.REDIS_KEY_PREFIX}:worker:{hostname}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            raw = cast(str | None, redis_sync().get(key))
            if raw and '"model_ok": true' in raw:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"worker did not start; see {self.log_path}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture(scope="session")
def test_db_name(django_db_setup: None, django_db_blocker: pytest.FixtureRequest) -> str:
    from django.db import connection

    return str(connection.settings_dict["NAME"])


@pytest.fixture(scope="session")
def _worker(test_db_name: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    worker = WorkerProcess(
        process_env(test_db_name), tmp_path_factory.mktemp("logs") / "worker.log"
    )
    worker.start()
    yield worker
    worker.stop()


def broker_lists(queue: str) -> list[str]:
    r"""A queue's lists in the Redis broker: kombu keeps one per priority step ("chat" for
    priority 0, "chat\x06\x169" for 9, translation back-fill)."""
    return [queue] + [f"{queue}\x06\x16{step}" for step in (3, 6, 9)]


def _broker_busy() -> bool:
    """Whether a task for the live worker still waits in the broker. (Unacknowledged ones
    are no sign: a worker a test killed leaves its task there.)"""
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"]
    client = redis_sync()
    lists = [name for queue in test_settings.LIVE_QUEUES.values() for name in broker_lists(queue)]
    return any(cast(int, client.llen(f"{prefix}{name}")) for name in lists)


def worker_settle(timeout: float = 30) -> bool:
    """Let the worker and the web server finish what a test left them doing.

    The flush after a live test truncates every table; a worker still settling a
    generation or indexing a document inside a transaction would deadlock with it.
    Queued and streaming generations are cancelled; the rest is waited for: the live
    queues empty and no other connection busy.
    Returns whether everything settled in time.
    """
    from django.db import connection

    from chat.models import Generation
    from chat.services import generation_cancel, generation_reap
    from knowledge.models import Document

    busy_statuses = (Generation.Status.QUEUED, Generation.Status.STREAMING)
    for generation in Generation.objects.filter(status__in=busy_statuses):
        generation_cancel(generation=generation)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        generation_reap()  # a worker a test killed settles nothing
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                " AND state IN ('active', 'idle in transaction')"
            )
            (others_busy,) = cursor.fetchone()
        busy = (
            others_busy
            or _broker_busy()
            or Generation.objects.filter(status__in=busy_statuses).exists()
            or Document.objects.filter(
                status__in=(Document.Status.PENDING, Document.Status.INDEXING)
            ).exists()
        )
        if not busy:
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def worker(_worker: WorkerProcess, settings: Any) -> Iterator[WorkerProcess]:
    """The run's worker, restarted first if an earlier test killed it; settled afterwards.

    For this test only, tasks this process sends go to the worker's queues."""
    for name, queue in test_settings.LIVE_QUEUES.items():
        setattr(settings, name, queue)
    if not _worker.alive():
        _worker.start()
    yield _worker
    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    if on_postgres and not worker_settle():
        warnings.warn("the worker was still busy when the test's data was flushed", stacklevel=1)


@pytest.fixture(scope="session")
def asgi_server(test_db_name: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """daphne serving the real ASGI app on a free port; yields its base URL."""
    port = free_port()
    log = (tmp_path_factory.mktemp("logs") / "web.log").open("ab")
    proc = subprocess.Popen(
        [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "webapp.asgi:application"],
        cwd=ROOT,
        env=process_env(test_db_name),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{base}/healthz")  # 503 is an answer: the server is up
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session", autouse=True)
def _test_database_released(
    django_db_setup: None, django_db_blocker: pytest.FixtureRequest
) -> Iterator[None]:
    """Before the test database is dropped, end the sessions that threads of this process
    (a rebuild, a heartbeat, a consumer's pool) left open on it, so the drop succeeds."""
    yield
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    from django.db import OperationalError, connection

    with django_db_blocker.unblock(), contextlib.ExitStack() as stack:  # type: ignore[attr-defined]
        try:
            cursor = stack.enter_context(connection.cursor())
        except OperationalError:
            return  # no test of this run needed a database: none was created
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(scope="session", autouse=True)
def _redis_cleanup() -> Iterator[None]:
    yield
    client = redis_sync()
    for prefix in (settings.REDIS_KEY_PREFIX,):
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
