"""What the whole stack adds to a model's stream: TTFT and tokens/s, direct vs. through the product.

For each concurrency level the same chats run two ways:

  direct  `backend.stream(messages, params, request_id)` in one thread per concurrent chat;
          TTFT is the call to the first Delta with text.
  stack   websocket client -> daphne (Channels consumer) -> Celery task -> backend ->
          Redis Stream -> consumer -> socket; TTFT is the send of `user.message` to the
          first `generation.delta`.

Tokens/s per stream is completion_tokens / (end - first text): the end is the final Delta
(direct) or `generation.done` (stack), whose usage gives completion_tokens.

Levels above 1 stream from bench.replay_server (a fixed-rate token replay) through
OpenAICompatibleBackend; the 1-chat level runs the real model through LlamaCppBackend
(`--model`, default the product's default) with a `-P solo` worker, both paths warmed with
one identical request and then sent the same prompts in the same order (llama.cpp reuses
the KV cache of the last prompt's prefix).

The benchmark starts and stops its own daphne, Celery workers and replay server, on free
ports of 127.0.0.1, with a fresh SQLite database (`--postgres`: a private database on the
local Postgres, dropped at exit; `--database-url`: any other), Redis keys under a random
prefix and a random queue suffix. DATABASE_CONN_MAX_AGE and the other product settings
pass through from the environment. Everything it starts is stopped at
exit. `--profile DIR` records py-spy profiles of daphne and the worker while they stream.

    .venv/bin/python -m bench.stream_overhead                      # levels 1, 8, 64
    .venv/bin/python -m bench.stream_overhead --levels 8 --model smollm2-135m-instruct
    .venv/bin/python -m bench.stream_overhead --levels 64,256 --worker-concurrency 256
                                            # the GPU worker's pool (compose.yaml)
"""

import argparse
import asyncio
import atexit
import contextlib
import gc
import json
import logging
import math
import os
import queue
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LLAMA_BACKEND = "inference.backends.llama_cpp.LlamaCppBackend"
OPENAI_BACKEND = "inference.backends.openai_compatible.OpenAICompatibleBackend"
TTFT_TARGET_MS = 30.0
RATIO_TARGET = 0.95
LOCAL_HOSTS = ("127.0.0.1", "localhost")

WARM_QUESTION = "Hello, are you there?"
# --job summary: short texts to summarize (document kind, "short" length).
SUMMARY_TEXTS = [
    "Orders placed before 2 pm leave the warehouse the same day. Standard delivery takes "
    "three to five working days and is free over 50 pounds; express arrives the next day.",
    "Anna ordered a blue kettle on Monday. It arrived broken on Wednesday. She asked for a "
    "refund, and the shop agreed to send a new kettle by Friday.",
    "Gift cards are sold from 10 to 200 pounds and never expire. A lost gift card can be "
    "blocked by phone with its number; it cannot pay for another gift card.",
    "The support team answers the phone from 8 am to 8 pm on weekdays. Chat is open around "
    "the clock, and emails are answered within one working day.",
]
QUESTIONS = [
    "How do I reset my password?",
    "Can I return a jacket I bought two weeks ago?",
    "How long does standard shipping take?",
    "Do you ship to Canada?",
    "My order arrived damaged. What should I do?",
    "Can I change the delivery address of my order?",
    "How do I cancel my subscription?",
    "Where can I find my invoice?",
    "Do you offer gift wrapping?",
    "What payment methods do you accept?",
    "My discount code does not work. Why?",
    "How can I track my package?",
    "Can I exchange shoes for a bigger size?",
    "When will my refund arrive?",
    "Is there a warranty on headphones?",
    "How do I delete my account?",
]


# --- Measurements ------------------------------------------------------------------------


@dataclass
class Sample:
    question: str
    ttft_s: float | None = None
    stream_s: float | None = None  # first text -> end of the stream
    text_s: float | None = None  # first text -> last text
    tokens: int = 0
    prompt_tokens: int = 0
    chars: int = 0
    error: str = ""
    generation_id: str = ""
    conversation_id: str = ""
    events: list[str] = field(default_factory=list)  # stack: the event types, in order
    replayed: bool = False  # stack: no deltas, the whole text came with generation.done
    sent_wall: float = 0.0  # time.time() at the send (stack) / call (direct)
    first_wall: float = 0.0
    done_wall: float = 0.0

    @property
    def tokens_per_s(self) -> float | None:
        if self.error or self.stream_s is None or self.stream_s <= 0 or self.tokens < 2:
            return None
        return self.tokens / self.stream_s

    @property
    def e2e_s(self) -> float | None:
        """Send (or call) to the end of the answer."""
        if self.error or self.ttft_s is None or self.stream_s is None:
            return None
        return self.ttft_s + self.stream_s

    @property
    def tokens_per_s_text(self) -> float | None:
        """The same rate up to the last text instead of the end (leaves out the settle)."""
        if self.error or self.text_s is None or self.text_s <= 0 or self.tokens < 2:
            return None
        return self.tokens / self.text_s


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class PathStats:
    n: int
    errors: int
    ttft_p50_ms: float
    ttft_p99_ms: float
    tokens_per_s_mean: float
    tokens_per_s_p50: float
    tokens_per_s_text_mean: float
    e2e_p50_s: float
    tokens_mean: float
    prompt_tokens_p50: float
    chars_mean: float
    wall_s: float
    cpu_s: dict[str, float]
    first_error: str = ""
    replayed: int = 0

    @classmethod
    def of(cls, samples: list[Sample], wall_s: float, cpu_s: dict[str, float]) -> "PathStats":
        good = [s for s in samples if not s.error and s.ttft_s is not None]
        ttfts = [s.ttft_s * 1000 for s in good if s.ttft_s is not None]
        rates = [r for s in good if (r := s.tokens_per_s) is not None]
        text_rates = [r for s in good if (r := s.tokens_per_s_text) is not None]
        errors = [s.error for s in samples if s.error]
        return cls(
            n=len(samples),
            errors=len(errors),
            ttft_p50_ms=percentile(ttfts, 50),
            ttft_p99_ms=percentile(ttfts, 99),
            tokens_per_s_mean=sum(rates) / len(rates) if rates else math.nan,
            tokens_per_s_p50=percentile(rates, 50),
            e2e_p50_s=percentile([e for s in good if (e := s.e2e_s) is not None], 50),
            tokens_per_s_text_mean=sum(text_rates) / len(text_rates) if text_rates else math.nan,
            tokens_mean=sum(s.tokens for s in good) / len(good) if good else math.nan,
            prompt_tokens_p50=percentile([s.prompt_tokens for s in good], 50),
            chars_mean=sum(s.chars for s in good) / len(good) if good else math.nan,
            wall_s=wall_s,
            cpu_s=cpu_s,
            first_error=errors[0] if errors else "",
            replayed=sum(1 for s in samples if s.replayed),
        )


# --- Processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds_of(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads), from /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return math.nan
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Processes:
    """Subprocesses this run started; all of them are stopped at exit, whatever happens."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C reaches us; we stop them in order
            )
        self.procs[name] = proc
        self.logs[name] = log_path
        return proc

    def alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def stop(self, name: str, grace: float = 15.0) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def stop_all(self) -> None:
        for name in list(self.procs):
            with contextlib.suppress(Exception):
                self.stop(name, grace=10.0)

    def pid(self, name: str) -> int | None:
        proc = self.procs.get(name)
        return proc.pid if proc is not None else None

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.logs.get(name)
        if path is None or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, alive: Callable[[], bool]
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        if not alive():
            raise RuntimeError(f"{what} exited before it was ready")
        time.sleep(0.1)
    raise RuntimeError(f"{what} was not ready within {timeout:.0f} s")


def http_get(url: str, timeout: float = 3.0) -> int:
    import httpx

    return httpx.get(url, timeout=timeout, trust_env=False).status_code


# --- The run -----------------------------------------------------------------------------


@dataclass
class LevelResult:
    concurrency: int
    engine: str
    chats: int
    direct: PathStats
    stack: PathStats
    ttft_overhead_p50_ms: float
    ttft_overhead_p99_ms: float
    throughput_ratio: float
    answer_time_ratio: float  # direct / stack median answer time (send -> done)
    bursts: int  # stack answers delivered in under half the direct time per token
    breakdown_ms: dict[str, float] = field(default_factory=dict)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.run_id = secrets.token_hex(4)
        self.prefix = f"bench-{self.run_id}"
        self.suffix = f"-bench-{self.run_id}"
        self.tmp = Path(tempfile.mkdtemp(prefix=f"helpline-bench-{self.run_id}-"))
        self.procs = Processes(self.tmp)
        self.pg_database = ""
        self.web_base = ""
        self.replay_url = ""
        self.env: dict[str, str] = {}
        self._cleaned = False

    # setup / teardown --------------------------------------------------------------------

    def setup(self) -> None:
        args = self.args
        database_url = args.database_url
        if args.postgres:
            # A private database on the local server, dropped at exit.
            name = f"helpline_bench_{self.run_id}"
            subprocess.run(
                ["createdb", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres", name],
                check=True,
                timeout=60,
            )
            self.pg_database = name
            database_url = f"postgres://postgres@127.0.0.1:5432/{name}"
        if not database_url:
            database_url = f"sqlite:///{self.tmp / 'bench.sqlite3'}"
        no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY", ""), "127.0.0.1,localhost"]))
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "webapp.settings",
            "DATABASE_URL": database_url,
            "REDIS_URL": args.redis_url,
            "REDIS_KEY_PREFIX": self.prefix,
            "CELERY_QUEUE_SUFFIX": self.suffix,
            "GENERATION_MAX_TOKENS": str(args.tokens),
            "SUMMARY_MAX_TOKENS": str(args.tokens),
            "INFERENCE_PRELOAD": "1",
            "INFERENCE_MODEL": args.model,
            "OPENAI_MODEL": "replay",
            "LOG_LEVEL": args.log_level.upper(),
            "PYTHONUNBUFFERED": "1",
            # The processes import this checkout (also when run from a copy of the tree).
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "NO_PROXY": no_proxy,
            "no_proxy": no_proxy,
            # The bench is hundreds of visitors from one address, each within its own rate.
            "CONVERSATIONS_PER_HOUR_PER_ADDRESS": "0",
        }
        # This process reads the same settings (system prompt, temperature, model options).
        os.environ.update(self.env)
        import django

        django.setup()
        logging.getLogger().setLevel(logging.WARNING)  # the settings' INFO console logging
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env=self.env,
            check=True,
            timeout=300,
        )
        port = free_port()
        self.procs.start(
            "daphne",
            [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "webapp.asgi:application"],
            self.env,
        )
        self.web_base = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: http_get(f"{self.web_base}/healthz") in (200, 503),
            60,
            "daphne",
            lambda: self.procs.alive("daphne"),
        )
        if any(self.engine_of(level) == "replay" for level in args.levels):
            port = free_port()
            self.procs.start(
                "replay",
                [
                    sys.executable,
                    "-m",
                    "bench.replay_server",
                    "--port",
                    str(port),
                    "--tokens-per-second",
                    str(args.tokens_per_second),
                    "--ttft-ms",
                    str(args.ttft_ms),
                ],
                self.env,
            )
            self.replay_url = f"http://127.0.0.1:{port}/v1"
            wait_until(
                lambda: http_get(f"{self.replay_url}/models") == 200,
                30,
                "replay server",
                lambda: self.procs.alive("replay"),
            )

    def cleanup(self) -> None:
        if self._cleaned:
            return
        self._cleaned = True
        self.procs.stop_all()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        with contextlib.suppress(Exception):
            import redis

            client = redis.Redis.from_url(self.args.redis_url, socket_timeout=5)
            keys = list(client.scan_iter(match=f"{self.prefix}*", count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
        if self.pg_database and not self.args.keep:
            with contextlib.suppress(Exception):
                subprocess.run(
                    [
                        "dropdb",
                        "-h",
                        "127.0.0.1",
                        "-U",
                        "postgres",
                        "--if-exists",
                        "--force",
                        self.pg_database,
                    ],
                    check=False,
                    timeout=60,
                )
        if self.args.keep:
            kept = f" and database {self.pg_database}" if self.pg_database else ""
            print(f"logs kept in {self.tmp}{kept}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # levels ------------------------------------------------------------------------------

    def engine_of(self, concurrency: int) -> str:
        return "llama" if concurrency == 1 and not self.args.replay_all else "replay"

    def chats_of(self, concurrency: int) -> int:
        if self.args.chats:
            return max(self.args.chats, concurrency)
        if self.engine_of(concurrency) == "llama":
            return 8
        return max(8, self.args.rounds * concurrency)

    def questions(self, n: int) -> list[str]:
        texts = SUMMARY_TEXTS if self.args.job == "summary" else QUESTIONS
        return [texts[i % len(texts)] for i in range(n)]

    def run_level(self, concurrency: int) -> LevelResult:
        engine = self.engine_of(concurrency)
        chats = self.chats_of(concurrency)
        questions = self.questions(chats)
        first = SUMMARY_TEXTS[-1] if self.args.job == "summary" else WARM_QUESTION
        warm = [first] if engine == "llama" else [first] * concurrency
        label = (
            f"llama.cpp {self.args.model}"
            if engine == "llama"
            else f"replay {self.args.tokens_per_second:g} tok/s, ttft {self.args.ttft_ms:g} ms"
        )
        log(f"level {concurrency}: {chats} chats, {label}")

        # (a) direct: no worker is running meanwhile
        backend = self.direct_backend(engine)
        log("  direct: warm-up")
        self.direct_run(backend, warm, len(warm))
        wait_for_quiet(self.args.quiet_wait)
        log("  direct: measuring")
        with CpuMeter(self) as meter:
            started = time.monotonic()
            direct = self.direct_run(backend, questions, concurrency)
            wall = time.monotonic() - started
        direct_stats = PathStats.of(direct, wall, meter.used)
        del backend  # a llama.cpp model is freed before the worker loads its own
        gc.collect()

        # (b) stack
        worker = self.worker_start(engine, concurrency)
        try:
            log("  stack: warm-up")
            conversations = asyncio.run(self.stack_conversations(len(warm)))
            asyncio.run(self.stack_run(warm, len(warm), conversations))
            conversations = asyncio.run(self.stack_conversations(len(questions)))
            wait_for_quiet(self.args.quiet_wait)
            log("  stack: measuring")
            with (
                CpuMeter(self, worker=worker) as meter,
                Profiler(self, ["daphne", worker], f"{concurrency}-stack"),
            ):
                started = time.monotonic()
                stack = asyncio.run(self.stack_run(questions, concurrency, conversations))
                wall = time.monotonic() - started
            stack_stats = PathStats.of(stack, wall, meter.used)
        finally:
            self.procs.stop(worker)
        ratio = stack_stats.tokens_per_s_mean / direct_stats.tokens_per_s_mean
        per_token = percentile(
            [x.stream_s / x.tokens for x in direct if x.stream_s is not None and x.tokens], 50
        )
        bursts = sum(
            1
            for x in stack
            if not x.error and x.stream_s is not None and x.stream_s < x.tokens * per_token / 2
        )
        return LevelResult(
            concurrency=concurrency,
            engine=label,
            chats=chats,
            direct=direct_stats,
            stack=stack_stats,
            ttft_overhead_p50_ms=stack_stats.ttft_p50_ms - direct_stats.ttft_p50_ms,
            ttft_overhead_p99_ms=stack_stats.ttft_p99_ms - direct_stats.ttft_p99_ms,
            throughput_ratio=ratio,
            answer_time_ratio=direct_stats.e2e_p50_s / stack_stats.e2e_p50_s,
            bursts=bursts,
            breakdown_ms=self.breakdown(stack),
            samples={"direct": [asdict(s) for s in direct], "stack": [asdict(s) for s in stack]},
        )

    # (a) direct ----------------------------------------------------------------------------

    def direct_backend(self, engine: str) -> Any:
        from django.conf import settings

        if engine == "llama":
            from inference.backends.llama_cpp import LlamaCppBackend

            return LlamaCppBackend(**{**settings.INFERENCE_OPTIONS, "model": self.args.model})
        from inference.backends.openai_compatible import OpenAICompatibleBackend

        return OpenAICompatibleBackend(
            base_url=self.replay_url, served_model="replay", timeout=self.args.timeout
        )

    def direct_run(self, backend: Any, questions: list[str], concurrency: int) -> list[Sample]:
        """One daemon thread per concurrent chat, each taking the next question in order."""
        from django.conf import settings

        from inference.base import GenerationParams

        summary = self.args.job == "summary"
        params = GenerationParams(
            max_tokens=self.args.tokens,
            temperature=0.0 if summary else settings.GENERATION_TEMPERATURE,
        )
        todo: queue.Queue[int] = queue.Queue()
        for index in range(len(questions)):
            todo.put(index)
        results: list[Sample | None] = [None] * len(questions)

        def one(question: str) -> Sample:
            from summarize.prompts import summary_messages

            messages: list[Any] = [
                {"role": "system", "content": settings.SYSTEM_PROMPT},
                {"role": "user", "content": question},
            ]
            if summary:  # what the summary's generation sends (summarize.kinds)
                messages = summary_messages(
                    text=question, language="en", length="short", kind="document"
                )
            sample = Sample(question=question, sent_wall=time.time())
            first = last = None
            started = time.perf_counter()
            try:
                for delta in backend.stream(messages, params, uuid.uuid4().hex):
                    if delta.text:
                        last = time.perf_counter()
                        if first is None:
                            first = last
                            sample.first_wall = time.time()
                            sample.ttft_s = first - started
                        sample.chars += len(delta.text)
                    if delta.usage is not None:
                        sample.tokens = delta.usage.completion_tokens
                        sample.prompt_tokens = delta.usage.prompt_tokens
                end = time.perf_counter()
                sample.done_wall = time.time()
                if first is None or last is None:
                    sample.error = "no text"
                else:
                    sample.stream_s = end - first
                    sample.text_s = last - first
            except Exception as exc:
                sample.error = f"{type(exc).__name__}: {exc}"
            return sample

        def loop() -> None:
            while True:
                try:
                    index = todo.get_nowait()
                except queue.Empty:
                    return
                results[index] = one(questions[index])

        threads = [
            threading.Thread(target=loop, daemon=True, name=f"direct-{i}")
            for i in range(concurrency)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + self.path_deadline(len(questions), concurrency)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [
            r or Sample(question=questions[i], error="timed out") for i, r in enumerate(results)
        ]

    def path_deadline(self, chats: int, concurrency: int) -> float:
        return self.args.timeout * math.ceil(chats / concurrency) + 30

    # (b) stack -----------------------------------------------------------------------------

    def worker_start(self, engine: str, concurrency: int) -> str:
        import redis

        name = f"worker-{concurrency}"
        hostname = f"{self.prefix}-{name}@bench"
        env = dict(self.env)
        if engine == "llama":
            env["INFERENCE_BACKEND"] = LLAMA_BACKEND
            pool = ["-P", "solo"]
        else:
            env["INFERENCE_BACKEND"] = OPENAI_BACKEND
            env["OPENAI_BASE_URL"] = self.replay_url
            env["OPENAI_TIMEOUT"] = str(self.args.timeout)
            # One thread per chat, or the GPU worker's fixed pool (GPU_WORKER_CONCURRENCY).
            pool = ["-P", "threads", "-c", str(self.args.worker_concurrency or concurrency)]
        log(f"  stack: starting worker ({' '.join(pool)})")
        self.procs.start(
            name,
            [
                str(BIN / "celery"),
                "-A",
                "webapp",
                "worker",
                *pool,
                "-Q",
                ("batch" if self.args.job == "summary" else "chat") + self.suffix,
                "-n",
                hostname,
                "--without-mingle",
                "--without-gossip",
                "-l",
                self.args.log_level,
            ],
            env,
        )
        client = redis.Redis.from_url(self.args.redis_url, socket_timeout=5, decode_responses=True)
        key = f"{self.prefix}:worker:{hostname}"

        def ready() -> bool:
            raw = client.get(key)
            return bool(raw and json.loads(str(raw)).get("model_ok"))

        try:
            wait_until(ready, 180, name, lambda: self.procs.alive(name))
        except RuntimeError:
            print(self.procs.log_tail(name), file=sys.stderr)
            raise
        return name

    async def stack_conversations(self, n: int) -> list[dict[str, Any]]:
        """POST /api/v1/conversations n times (before the clock starts): id, token, ws_url.
        A summary job is created inside the clock (its POST is part of its TTFT)."""
        import httpx

        if self.args.job == "summary":
            from channels.db import database_sync_to_async

            from sites.services import site_default_ensure

            site = await database_sync_to_async(site_default_ensure)()
            key = await database_sync_to_async(site.secret_key_issue)()
            return [{"id": "", "key": key} for _ in range(n)]

        async with httpx.AsyncClient(
            base_url=self.web_base, timeout=self.args.timeout, trust_env=False
        ) as http:
            gate = asyncio.Semaphore(8)

            async def create() -> dict[str, Any]:
                async with gate:
                    response = await http.post("/api/v1/conversations", json={})
                    response.raise_for_status()
                    return dict(response.json())

            return list(await asyncio.gather(*(create() for _ in range(n))))

    async def stack_run(
        self, questions: list[str], concurrency: int, conversations: list[dict[str, Any]]
    ) -> list[Sample]:
        """`concurrency` clients, each chatting in a fresh conversation, one chat at a time."""
        results: list[Sample | None] = [None] * len(questions)
        todo = list(range(len(questions)))
        todo.reverse()

        async def loop(start_s: float) -> None:
            await asyncio.sleep(start_s)  # --ramp: clients arrive spread out, not at once
            while todo:
                index = todo.pop()
                results[index] = await self.stack_one(questions[index], conversations[index])

        deadline = self.path_deadline(len(questions), concurrency) + self.args.ramp
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(deadline):
                await asyncio.gather(
                    *(loop(i * self.args.ramp / concurrency) for i in range(concurrency))
                )
        return [
            r or Sample(question=questions[i], error="timed out") for i, r in enumerate(results)
        ]

    async def stack_one(self, question: str, conversation: dict[str, Any]) -> Sample:
        from websockets.asyncio.client import connect

        sample = Sample(question=question, conversation_id=conversation["id"])
        job = self.args.job == "summary"
        try:
            sample.sent_wall = time.time()
            started = time.perf_counter()
            if job:  # POST the job, then open its socket: it replays from the start
                import httpx

                async with httpx.AsyncClient(base_url=self.web_base, trust_env=False) as http:
                    response = await http.post(
                        "/api/v1/summaries",
                        json={"text": question},
                        headers={"Authorization": f"Bearer {conversation['key']}"},
                    )
                    response.raise_for_status()
                    conversation = {**conversation, **response.json()}
                    sample.conversation_id = conversation["id"]
            ws_url = self.web_base.replace("http://", "ws://", 1) + conversation["ws_url"]
            async with connect(
                ws_url, open_timeout=10, close_timeout=2, proxy=None, max_size=2**20
            ) as ws:
                frame = {"type": "user.message", "text": question, "client_id": uuid.uuid4().hex}
                payload = json.dumps(frame)
                first = last = None
                if not job:
                    sample.sent_wall = time.time()
                    started = time.perf_counter()
                    await ws.send(payload)
                async with asyncio.timeout(self.args.timeout):
                    while True:
                        raw = await ws.recv()
                        now = time.perf_counter()
                        event = json.loads(raw)
                        kind = event.get("type")
                        if kind != "generation.delta" or sample.events[-1:] != [kind]:
                            sample.events.append(str(kind))
                        if kind == "generation.delta":
                            last = now
                            if first is None:
                                first = now
                                sample.first_wall = time.time()
                                sample.ttft_s = first - started
                                sample.generation_id = event.get("generation_id", "")
                            sample.chars += len(event.get("text", ""))
                        elif kind == "generation.done":
                            sample.done_wall = time.time()
                            sample.generation_id = event.get("generation_id", "")
                            usage = event.get("usage") or {}
                            sample.tokens = int(usage.get("completion_tokens", 0))
                            sample.prompt_tokens = int(usage.get("prompt_tokens", 0))
                            if (first is None or last is None) and event.get("text"):
                                # The relay began after the answer was settled and sent it
                                # whole from the database: it arrives now, in one piece.
                                sample.ttft_s = now - started
                                sample.first_wall = sample.done_wall
                                sample.chars = len(event["text"])
                                sample.stream_s = sample.text_s = 0.0
                                sample.replayed = True
                            elif first is None or last is None:
                                sample.error = f"done without text ({event.get('status')})"
                            else:
                                sample.stream_s = now - first
                                sample.text_s = last - first
                            return sample
                        elif kind == "message.created":
                            message = event.get("message") or {}
                            if message.get("generation_id"):
                                sample.generation_id = message["generation_id"]
                        elif kind in ("generation.error", "error"):
                            sample.error = f"{kind}: {event.get('code')}: {event.get('detail')}"
                            return sample
        except Exception as exc:
            sample.error = f"{type(exc).__name__}: {exc}".rstrip(": ")
            sample.error += f" (conversation {sample.conversation_id}, events {sample.events})"
        return sample

    def breakdown(self, samples: list[Sample]) -> dict[str, float]:
        """Where the stack's TTFT goes, from the Generation rows (medians, ms): the web
        process storing the message, the queue and claim, the engine's first token, and the
        trip of that token through Redis and the socket. Same clock: one machine."""
        from django.db import connections

        from chat.models import Generation

        ids = [s.generation_id for s in samples if s.generation_id]
        fields = ["id", "status", "queued_at", "started_at", "first_token_at", "done_at"]
        fields += ["error_code", "completion_tokens"]
        try:
            rows = {str(g.id): g for g in Generation.objects.filter(id__in=ids).only(*fields)}
        except Exception as exc:  # the schema moved under a running benchmark
            log(f"  no breakdown: {exc}")
            return {}
        for sample in samples:
            if not sample.error:
                continue
            failed = rows.get(sample.generation_id)
            if failed is None and sample.conversation_id:
                failed = (
                    Generation.objects.filter(conversation_id=sample.conversation_id)
                    .only(*fields)
                    .first()
                )
            if failed is None:
                log(f"  failed chat {sample.error!r}: no generation")
            else:
                stamps = {
                    name: round(stamp.timestamp() - sample.sent_wall, 3)
                    for name in ("queued_at", "started_at", "first_token_at", "done_at")
                    if (stamp := getattr(failed, name)) is not None
                }
                log(
                    f"  failed chat {sample.error!r}: generation {failed.status} "
                    f"{failed.error_code} {failed.completion_tokens} tokens, "
                    f"seconds after the send: {stamps}"
                )
        parts: dict[str, list[float]] = {
            "web: send -> generation row": [],
            "queue: row -> worker claim": [],
            "engine: claim -> first token": [],
            "relay: first token -> client": [],
            "settle: done_at -> client done": [],
        }
        for sample in samples:
            row = rows.get(sample.generation_id)
            if (
                row is None
                or sample.error
                or not (row.started_at and row.first_token_at and row.done_at)
            ):
                continue
            queued, started = row.queued_at.timestamp(), row.started_at.timestamp()
            first, done = row.first_token_at.timestamp(), row.done_at.timestamp()
            parts["web: send -> generation row"].append(queued - sample.sent_wall)
            parts["queue: row -> worker claim"].append(started - queued)
            parts["engine: claim -> first token"].append(first - started)
            parts["relay: first token -> client"].append(sample.first_wall - first)
            parts["settle: done_at -> client done"].append(sample.done_wall - done)
        connections.close_all()
        return {
            name: round(percentile(values, 50) * 1000, 2)
            for name, values in parts.items()
            if values
        }


def env_chat_queue(suffix: str) -> str:
    return "chat" + suffix


class CpuMeter:
    """CPU seconds each process spent during a measured run (this one, daphne, the worker,
    the replay server, and the Redis server as a whole)."""

    def __init__(self, bench: Bench, worker: str = "") -> None:
        self.bench = bench
        self.names = ["daphne", "replay", *([worker] if worker else [])]
        self.used: dict[str, float] = {}
        self._start: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        values = {"bench": usage.ru_utime + usage.ru_stime, "machine": machine_busy_seconds()}
        for name in self.names:
            pid = self.bench.procs.pid(name)
            if pid is not None:
                values[name.split("-")[0]] = cpu_seconds_of(pid)
        with contextlib.suppress(Exception):
            import redis

            client = redis.Redis.from_url(self.bench.args.redis_url, socket_timeout=5)
            info = cast(dict[str, Any], client.info("cpu"))
            values["redis"] = float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
        return values

    def __enter__(self) -> "CpuMeter":
        self._start = self._now()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._now()
        used = {k: end[k] - self._start[k] for k in end if k in self._start}
        machine = used.pop("machine", math.nan)
        # Whatever else ran on the machine meanwhile (other users' jobs skew the figures).
        used["others"] = max(0.0, machine - sum(used.values()))
        self.used = {k: round(v, 2) for k, v in used.items()}


def wait_for_quiet(max_wait: float, busy_limit: float = 0.25) -> float:
    """Wait (at most `max_wait` s) until the machine's cores are less than `busy_limit`
    busy over one second: other jobs on a small machine distort latencies. Returns the
    busy fraction last seen."""
    deadline = time.monotonic() + max_wait
    cores = os.cpu_count() or 1
    while True:
        before, started = machine_busy_seconds(), time.monotonic()
        time.sleep(1.0)
        busy = (machine_busy_seconds() - before) / ((time.monotonic() - started) * cores)
        if busy < busy_limit or time.monotonic() >= deadline:
            if busy >= busy_limit:
                log(f"  the machine is still {busy:.0%} busy with other work; measuring anyway")
            return busy
        time.sleep(1.0)


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat: all but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


# --- Output ------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fmt(value: float, digits: int = 1) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def table(results: list[LevelResult]) -> Iterator[str]:
    yield (
        "chats | path   | TTFT p50 ms | TTFT p99 ms | tok/s per stream | tok/s p50 "
        "| answer p50 s |   n | errors | engine"
    )
    yield (
        "------+--------+-------------+-------------+------------------+-----------"
        "+--------------+-----+--------+-------"
    )
    for result in results:
        for name, stats in (("direct", result.direct), ("stack", result.stack)):
            yield (
                f"{result.concurrency:>5} | {name:<6} | {fmt(stats.ttft_p50_ms):>11} | "
                f"{fmt(stats.ttft_p99_ms):>11} | {fmt(stats.tokens_per_s_mean, 2):>16} | "
                f"{fmt(stats.tokens_per_s_p50, 2):>9} | {fmt(stats.e2e_p50_s, 2):>12} | "
                f"{stats.n:>3} | {stats.errors:>6} | {result.engine}"
            )
    yield ""
    for result in results:
        median_ratio = result.stack.tokens_per_s_p50 / result.direct.tokens_per_s_p50
        yield (
            f"{result.concurrency:>3} chats: overhead p50 TTFT = "
            f"{fmt(result.ttft_overhead_p50_ms)} ms (target < {TTFT_TARGET_MS:g} ms); "
            f"throughput ratio = {fmt(result.throughput_ratio * 100)} % "
            f"(target >= {RATIO_TARGET * 100:g} % at 64 chats)"
            f" | p99 TTFT overhead {fmt(result.ttft_overhead_p99_ms)} ms, "
            f"tok/s ratio of medians {fmt(median_ratio * 100)} %, "
            f"answer-time ratio {fmt(result.answer_time_ratio * 100)} %"
        )
        direct_prompt, stack_prompt = (
            result.direct.prompt_tokens_p50,
            result.stack.prompt_tokens_p50,
        )
        if not abs(direct_prompt - stack_prompt) <= 2:
            yield (
                f"     WARNING: the prompts differ (median {fmt(direct_prompt, 0)} tokens "
                f"direct, {fmt(stack_prompt, 0)} through the stack): "
                "the product no longer builds [system prompt, question]; not like for like"
            )
        if result.stack.replayed:
            yield (
                f"     {result.stack.replayed} of {result.stack.n} stack answers came with no "
                "delta at all: generation.done carried the whole text (relay started too late)"
            )
        if result.bursts:
            yield (
                f"     {result.bursts} of {result.stack.n} stack answers arrived in one burst "
                "(in under half the direct time per token), which inflates their tok/s"
            )


def details(results: list[LevelResult]) -> Iterator[str]:
    for result in results:
        yield f"{result.concurrency} chats, stack TTFT breakdown (median ms): " + ", ".join(
            f"{name} {value:g}" for name, value in result.breakdown_ms.items()
        )
        for name, stats in (("direct", result.direct), ("stack", result.stack)):
            cpu = ", ".join(f"{k} {v:g}" for k, v in stats.cpu_s.items())
            yield (
                f"{result.concurrency} chats, {name}: wall {stats.wall_s:.2f} s, CPU s: {cpu}; "
                f"mean {fmt(stats.tokens_mean)} tokens, {fmt(stats.chars_mean)} chars per answer, "
                f"{fmt(stats.tokens_per_s_text_mean, 2)} tok/s per stream up to the last text"
                + (f"; first error: {stats.first_error}" if stats.first_error else "")
            )


class Profiler:
    """`py-spy record` on the stack's processes during a measurement (optional): raw
    collapsed stacks in the profile folder, and the hottest frames of each process."""

    def __init__(self, bench: Bench, names: list[str], tag: str) -> None:
        self.bench = bench
        self.names = names if bench.args.profile else []
        self.tag = tag
        self.running: list[tuple[str, Path, subprocess.Popen[bytes]]] = []

    def __enter__(self) -> "Profiler":
        folder = Path(self.bench.args.profile) if self.bench.args.profile else None
        for name in self.names:
            pid = self.bench.procs.pid(name)
            if folder is None or pid is None:
                continue
            folder.mkdir(parents=True, exist_ok=True)
            out = folder / f"{self.tag}-{name}.txt"
            argv = [self.bench.args.py_spy, "record", "--pid", str(pid), "--rate", "250"]
            argv += ["--format", "raw", "--nonblocking", "--threads", "--idle"]
            argv += ["--output", str(out)]
            proc = subprocess.Popen(
                argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
            )
            self.running.append((name, out, proc))
        time.sleep(0.5 if self.running else 0)
        return self

    def __exit__(self, *exc: object) -> None:
        for _, _, proc in self.running:
            proc.send_signal(signal.SIGINT)
        for name, out, proc in self.running:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            if out.exists():
                summary = profile_summary(out)
                out.with_suffix(".top.txt").write_text(summary)
                log(f"  profile of {name}: {out}\n{summary}")


IDLE_LEAVES = ("selectors.py", "concurrent/futures/thread.py:81)", "threading.py:", "eventio.py")


def profile_summary(path: Path, top: int = 8) -> str:
    """Per group of threads (same name but for numbers): how often it was busy (not parked
    in select, a queue or a condition), and where, from py-spy's raw output
    (`--threads --idle`: one line per stack, "thread (tid): name;frame;... count")."""
    groups: dict[str, dict[str, Any]] = {}
    threads: dict[str, set[str]] = {}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread, _, name = frames[0].partition(": ")
        group_name = re.sub(r"\d+", "N", name or thread)
        group = groups.setdefault(group_name, {"total": 0, "busy": 0, "leaf": {}, "inc": {}})
        threads.setdefault(group_name, set()).add(thread)
        group["total"] += count
        leaf = frames[-1]
        if any(mark in leaf for mark in IDLE_LEAVES):
            continue
        group["busy"] += count
        group["leaf"][leaf] = group["leaf"].get(leaf, 0) + count
        for frame in set(frames[1:]):
            if str(ROOT) in frame or frame.split(" (")[-1].startswith(PRODUCT_PACKAGES):
                group["inc"][frame] = group["inc"].get(frame, 0) + count
    lines = []
    for group_name, group in sorted(groups.items(), key=lambda kv: -kv[1]["busy"])[:6]:
        n = len(threads[group_name])
        per_thread = group["total"] / n
        lines.append(
            f"{group_name} x{n}: busy {group['busy'] / max(group['total'], 1):.0%} of its samples "
            f"({group['busy']} of {group['total']}; {per_thread:.0f} per thread)"
        )
        for frame, count in sorted(group["inc"].items(), key=lambda kv: -kv[1])[:top]:
            lines.append(f"   {100 * count / max(group['busy'], 1):5.1f}% in  {frame}")
        for frame, count in sorted(group["leaf"].items(), key=lambda kv: -kv[1])[:top]:
            lines.append(f"   {100 * count / max(group['busy'], 1):5.1f}% at  {frame}")
    return "\n".join(lines) or "(no samples)"


PRODUCT_PACKAGES = ("chat/", "inference/", "webapp/", "sites/", "knowledge/", "channels/")


# --- Main --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure what the whole stack adds to a model's stream (TTFT, tokens/s).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--levels",
        type=lambda raw: [int(x) for x in raw.replace(",", " ").split()],
        default=[1, 8, 64],
        help="concurrency levels, e.g. '1,8,64'",
    )
    parser.add_argument(
        "--chats",
        type=int,
        default=0,
        help="chats per level and path (default: 8 with the model, else max(8, rounds x level))",
    )
    parser.add_argument(
        "--rounds", type=int, default=4, help="chats per concurrent client (replay)"
    )
    parser.add_argument("--tokens", type=int, default=64, help="max tokens per answer")
    parser.add_argument(
        "--job",
        choices=["chat", "summary"],
        default="chat",
        help="what streams: chat answers, or summaries (POST /api/v1/summaries, job socket)",
    )
    parser.add_argument("--model", default="", help="llama.cpp model of the 1-chat level")
    parser.add_argument("--replay-all", action="store_true", help="replay on the 1-chat level too")
    parser.add_argument("--tokens-per-second", type=float, default=50.0, help="replay rate")
    parser.add_argument("--ttft-ms", type=float, default=20.0, help="replay time to first token")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per chat")
    parser.add_argument(
        "--ramp",
        type=float,
        default=0.0,
        help="stack: seconds over which the concurrent clients start (0: all at once)",
    )
    parser.add_argument(
        "--worker-concurrency",
        type=int,
        default=0,
        help="replay levels: the stack's worker is one threads pool of this size, as the GPU "
        "worker runs (GPU_WORKER_CONCURRENCY), instead of one thread per chat of the level",
    )
    db = parser.add_mutually_exclusive_group()
    db.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    db.add_argument(
        "--postgres",
        action="store_true",
        help="a private database on postgres://postgres@127.0.0.1:5432, dropped at exit",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="seconds to wait, before each measurement, for other jobs to leave the CPU idle",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--log-level", default="info", help="of the worker and daphne")
    parser.add_argument("--json", default="", help="write the figures to this file")
    parser.add_argument(
        "--profile", default="", help="record py-spy profiles of daphne and the worker here"
    )
    parser.add_argument("--py-spy", default="py-spy", help="the py-spy executable")
    parser.add_argument("--keep", action="store_true", help="keep the logs and SQLite file")
    args = parser.parse_args(argv)
    if not args.model:
        from inference.models import DEFAULT_MODEL

        args.model = os.environ.get("INFERENCE_MODEL", DEFAULT_MODEL)
    for url in (args.redis_url, args.database_url):
        if url and not url.startswith("sqlite") and urlsplit(url).hostname not in LOCAL_HOSTS:
            parser.error(f"{url}: the benchmark only talks to 127.0.0.1")
    if any(level < 1 for level in args.levels):
        parser.error("levels must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench = Bench(args)
    atexit.register(bench.cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # Also when started in the background (where shells ignore SIGINT): an interrupt stops
    # the run and everything it started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    log(
        f"run {bench.run_id}: levels {args.levels}, {args.tokens} tokens, tmp {bench.tmp}, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} CPUs"
    )
    results: list[LevelResult] = []
    try:
        bench.setup()
        log(
            f"database {bench.env['DATABASE_URL']}, web {bench.web_base}, replay {bench.replay_url}"
        )
        for level in args.levels:
            results.append(bench.run_level(level))
    finally:
        bench.cleanup()
    command = " ".join(
        ["python -m bench.stream_overhead", *(argv if argv is not None else sys.argv[1:])]
    )
    print(f"$ {command}")
    print(
        f"database: {bench.env.get('DATABASE_URL', '').split('@')[-1].split(':///')[0]}, "
        f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    for line in table(results):
        print(line)
    print()
    for line in details(results):
        print(line)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "command": command,
                    "config": {k: v for k, v in vars(args).items()},
                    "database": bench.env.get("DATABASE_URL", "").split("@")[-1],
                    "levels": [asdict(r) for r in results],
                },
                indent=2,
                default=str,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
