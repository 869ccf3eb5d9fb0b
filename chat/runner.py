"""The worker side of a generation: claim it, build the prompt, stream, settle.

No database transaction is open while the model generates; the text is written once.
"""

import contextlib
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.utils import timezone
from redis.exceptions import RedisError

from chat import streams
from chat.kinds import Outcome, kind_get
from chat.models import Generation
from chat.services import generation_finish
from inference.base import (
    Backend,
    BackendError,
    ChatMessage,
    GenerationParams,
    RetryableBackendError,
    Usage,
)
from inference.coalesce import Coalescer
from webapp import metrics

log = logging.getLogger(__name__)
WORKER_NAME = f"{socket.gethostname()}:{threading.get_ident()}"
CANCEL_CHECK_SECONDS = 0.05
ABORT_GRACE_SECONDS = 2.0


class RetryLater(Exception):
    """The backend was busy before any text was streamed: the task may run again."""


def generation_claim(generation_id: uuid.UUID | str) -> Generation | None:
    """Take a queued generation for this worker; None if it was taken or settled already."""
    now = timezone.now()
    claimed = Generation.objects.filter(id=generation_id, status=Generation.Status.QUEUED).update(
        status=Generation.Status.STREAMING, started_at=now, heartbeat_at=now, worker=WORKER_NAME
    )
    if not claimed:
        return None
    generation = Generation.objects.select_related("message", "conversation__site").get(
        id=generation_id
    )
    kind_get(generation.kind).store(generation, Generation.Status.STREAMING, None)
    return generation


def prompt_build(generation: Generation, backend: Backend) -> tuple[list[ChatMessage], int]:
    """The generation's prompt, as its kind builds it, and how many turns did not fit."""
    return kind_get(generation.kind).prompt(generation, backend)


@dataclass
class Heartbeat:
    """Tells the reaper this worker is alive, also while a long prompt is evaluated: calls
    `beat` (an UPDATE of a heartbeat column) every GENERATION_HEARTBEAT_SECONDS."""

    beat: Callable[[], object]
    stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> "Heartbeat":
        threading.Thread(target=self._beat, daemon=True, name="heartbeat").start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()

    def _beat(self) -> None:
        try:
            while not self.stop.wait(settings.GENERATION_HEARTBEAT_SECONDS):
                self.beat()
        finally:
            connection.close()  # this thread's own connection


def generation_heartbeat(generation_id: uuid.UUID) -> Heartbeat:
    return Heartbeat(
        lambda: Generation.objects.filter(
            id=generation_id, status=Generation.Status.STREAMING
        ).update(heartbeat_at=timezone.now())
    )


def generation_execute(generation_id: uuid.UUID | str) -> None:
    """Run one generation end to end. Raises RetryLater when the backend asks for it.

    A kind that works in steps (a long summary's map) is not ready until its steps are
    done: its task only sees to them and returns, and the last step sends it again."""
    waiting = Generation.objects.filter(id=generation_id, status=Generation.Status.QUEUED).first()
    if waiting is not None and not kind_get(waiting.kind).ready(waiting):
        return
    generation = generation_claim(generation_id)
    if generation is None:
        log.info("generation %s already claimed or settled", generation_id)
        return
    with generation_heartbeat(generation.id):
        _generation_stream(generation)


@dataclass
class StreamResult:
    status: str = Generation.Status.DONE
    parts: list[str] = field(default_factory=list)
    usage: Usage | None = None
    first_token_at: datetime | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)


def _generation_stream(generation: Generation) -> None:
    started = time.monotonic()
    kind = kind_get(generation.kind)
    stream = streams.StreamWriter(generation.id)
    try:
        backend = kind.backend()
        messages, dropped = kind.prompt(generation, backend)
    except BackendError as exc:
        _settle_failed(generation, stream, "", exc.code, str(exc))
        return
    result = StreamResult()
    try:
        if ready := kind.before(generation, backend, messages):
            stream.delta(ready.text)  # nothing streamed yet: the text streams as an answer
            _settle_outcome(generation, stream, ready, replace=False)
            return
        _relay_deltas(generation, backend, messages, kind.params(generation), result, stream)
    except RetryableBackendError as exc:
        if not result.parts and Generation.objects.filter(
            id=generation.id, status=Generation.Status.STREAMING
        ).update(status=Generation.Status.QUEUED, started_at=None):
            raise RetryLater(str(exc)) from exc
        _settle_failed(generation, stream, result.text, exc.code, str(exc))
        return
    except BackendError as exc:
        _settle_failed(generation, stream, result.text, exc.code, str(exc))
        return
    except (streams.StreamLost, RedisError) as exc:
        # Redis went away under the stream: keep what was written, in the database.
        log.warning("generation %s lost its stream: %s", generation.id, exc)
        _settle_failed(generation, stream, result.text, "stream_lost", str(exc))
        return
    except Exception as exc:
        log.exception("generation %s crashed", generation.id)
        _settle_failed(generation, stream, result.text, "failed", repr(exc))
        return
    _settle_done(generation, result, stream, dropped, started)


def _settle_outcome(
    generation: Generation,
    stream: streams.StreamWriter,
    outcome: Outcome,
    from_status: str = Generation.Status.STREAMING,
    replace: bool = True,
) -> bool:
    """Settle done with a text that needed no (more) model: a chat answer whose sources do
    not answer, a kind's fallback after the model failed. `replace`: the final event
    carries the text, which replaces whatever streamed."""
    if not generation_finish(
        generation=generation,
        status=Generation.Status.DONE,
        from_status=from_status,
        outcome=outcome,
        first_token_at=generation.first_token_at or timezone.now(),
    ):
        log.warning("generation %s was settled elsewhere (reaped?)", generation.id)
        return False
    _stream_final(
        generation,
        lambda: stream.done(
            Generation.Status.DONE, {}, outcome.route, outcome.sources,
            text=outcome.text if replace else None, extra=outcome.extra,
        ),
    )  # fmt: skip
    metrics.generation_observe(status=Generation.Status.DONE)
    return True


def _relay_deltas(
    generation: Generation,
    backend: Backend,
    messages: list[ChatMessage],
    params: GenerationParams,
    result: StreamResult,
    stream: streams.StreamWriter,
) -> None:
    """Stream from the backend into the generation's Redis Stream, coalesced, until the
    end or a cancel (checked every CANCEL_CHECK_SECONDS, then the backend is aborted)."""
    coalescer = Coalescer(settings.COALESCE_MS, settings.COALESCE_TOKENS)
    request_id = str(generation.id)
    next_cancel_check = 0.0
    aborted_at: float | None = None
    with contextlib.closing(backend.stream(messages, params, request_id)) as deltas:
        for delta in deltas:
            result.usage = delta.usage or result.usage
            if aborted_at is not None:
                # Drain to the backend's final usage, but never wait long for it.
                if time.monotonic() - aborted_at > ABORT_GRACE_SECONDS:
                    break
                continue
            if delta.text:
                result.first_token_at = result.first_token_at or timezone.now()
                result.parts.append(delta.text)
                if chunk := coalescer.push(delta.text):
                    stream.delta(chunk)
            if time.monotonic() >= next_cancel_check:
                next_cancel_check = time.monotonic() + CANCEL_CHECK_SECONDS
                if streams.cancel_requested(generation.id):
                    backend.abort(request_id)
                    result.status = Generation.Status.CANCELLED
                    aborted_at = time.monotonic()
    if rest := coalescer.flush():
        stream.delta(rest)


def _settle_done(
    generation: Generation,
    result: StreamResult,
    stream: streams.StreamWriter,
    dropped: int,
    started: float,
) -> None:
    usage = {
        "prompt_tokens": result.usage.prompt_tokens if result.usage else 0,
        "completion_tokens": result.usage.completion_tokens if result.usage else 0,
    }
    outcome = kind_get(generation.kind).outcome(generation, result.text, result.status)
    if not generation_finish(
        generation=generation,
        status=result.status,
        outcome=outcome,
        first_token_at=result.first_token_at,
        dropped_messages=dropped,
        prompt_tokens=usage["prompt_tokens"],
        completion_tokens=usage["completion_tokens"],
    ):
        log.warning("generation %s was settled elsewhere (reaped?)", generation.id)
        return
    replaced = outcome.text if outcome.replaced else None
    _stream_final(
        generation,
        lambda: stream.done(
            result.status, usage, outcome.route, outcome.sources, text=replaced,
            extra=outcome.extra,
        ),
    )  # fmt: skip
    metrics.generation_observe(
        status=result.status,
        queued_at=generation.queued_at,
        first_token_at=result.first_token_at,
        completion_tokens=usage["completion_tokens"],
        streaming_seconds=time.monotonic() - started,
    )


def generation_give_up(generation_id: uuid.UUID | str, detail: str) -> None:
    """The backend stayed busy through every retry: tell the client instead of waiting."""
    generation = Generation.objects.get(id=generation_id)
    _settle_failed(
        generation,
        streams.StreamWriter(generation.id),
        "",
        "backend_busy",
        detail,
        from_status=Generation.Status.QUEUED,
    )


def _settle_failed(
    generation: Generation,
    stream: streams.StreamWriter,
    text: str,
    code: str,
    detail: str,
    from_status: str = Generation.Status.STREAMING,
) -> None:
    """Settle as failed with the text written so far; `detail` (the exception's text) is
    for staff only: clients get the code's fixed text (webapp.errors). A kind with a
    fallback (a summary's extractive one) settles done with it instead."""
    fallback = kind_get(generation.kind).fallback(generation, code)
    if fallback is not None:
        log.warning(
            "generation %s: %s (%s); settled with the fallback", generation.id, code, detail
        )
        if _settle_outcome(generation, stream, fallback, from_status=from_status):
            return
    if generation_finish(
        generation=generation,
        status=Generation.Status.FAILED,
        text=text,
        from_status=from_status,
        error_code=code,
        error_detail=detail[:2000],
    ):
        if code != "stream_lost":  # a new stream would restart at seq 1: readers use the row
            _stream_final(generation, lambda: stream.error(code))
        metrics.generation_observe(status=Generation.Status.FAILED)


def _stream_final(generation: Generation, write: Callable[[], int]) -> None:
    """Append the final event; the database already holds the outcome, so a reader that
    cannot get it from the stream (Redis down or restarted) replays it from there."""
    try:
        write()
    except (streams.StreamLost, RedisError) as exc:
        log.warning("final event of generation %s not streamed: %s", generation.id, exc)


def text_generate(
    backend: Backend,
    messages: list[ChatMessage],
    params: GenerationParams,
    request_id: str,
    cancelled: Callable[[], bool],
) -> str | None:
    """The whole text of one model call that is not streamed to anyone (a step of a job);
    None when `cancelled()` turned true meanwhile (checked every CANCEL_CHECK_SECONDS)."""
    parts: list[str] = []
    next_check = time.monotonic() + CANCEL_CHECK_SECONDS
    with contextlib.closing(backend.stream(messages, params, request_id)) as deltas:
        for delta in deltas:
            parts.append(delta.text)
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + CANCEL_CHECK_SECONDS
                if cancelled():
                    backend.abort(request_id)
                    return None
    return "".join(parts)
