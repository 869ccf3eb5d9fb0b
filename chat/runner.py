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
from chat.answers import (
    answer_declines,
    no_answer_text,
    sources_block,
    sources_check,
    sources_cited,
)
from chat.engine import engine_backend
from chat.models import Generation, Message
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
from inference.prompt import prompt_fit
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
    generation = Generation.objects.select_related("message", "conversation").get(id=generation_id)
    Message.objects.filter(id=generation.message_id).update(status=Message.Status.STREAMING)
    return generation


def prompt_build(generation: Generation, backend: Backend) -> tuple[list[ChatMessage], int]:
    """The site's system prompt (with the numbered sources of a grounded answer) and the
    newest whole turns that fit the context budget."""
    from knowledge.models import PromptTemplate
    from knowledge.prompts import grounded_render, prompt_active_text

    site = generation.conversation.site
    system = prompt_active_text(site=site, kind=PromptTemplate.Kind.SYSTEM)
    sources = generation.context.get("sources") or []
    if generation.context.get("route") == "grounded" and sources:
        grounded = prompt_active_text(site=site, kind=PromptTemplate.Kind.GROUNDED)
        system = f"{system}\n\n{grounded_render(grounded, sources_block(sources))}"
    history: list[ChatMessage] = [
        {"role": m.role, "content": m.text}  # type: ignore[typeddict-item]
        for m in generation.conversation.messages.filter(id__lt=generation.message_id)
        .exclude(text="")
        .order_by("created_at", "id")
    ]
    budget = settings.GENERATION_CONTEXT_TOKENS - settings.GENERATION_MAX_TOKENS - 64
    return prompt_fit(
        system=system, history=history, budget=budget, count_tokens=backend.count_tokens
    )


@dataclass
class Heartbeat:
    """Tells the reaper this worker is alive, also while a long prompt is evaluated."""

    generation_id: uuid.UUID
    stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> "Heartbeat":
        threading.Thread(target=self._beat, daemon=True, name="generation-heartbeat").start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()

    def _beat(self) -> None:
        try:
            while not self.stop.wait(settings.GENERATION_HEARTBEAT_SECONDS):
                Generation.objects.filter(
                    id=self.generation_id, status=Generation.Status.STREAMING
                ).update(heartbeat_at=timezone.now())
        finally:
            connection.close()  # this thread's own connection


def generation_execute(generation_id: uuid.UUID | str) -> None:
    """Run one generation end to end. Raises RetryLater when the backend asks for it."""
    generation = generation_claim(generation_id)
    if generation is None:
        log.info("generation %s already claimed or settled", generation_id)
        return
    with Heartbeat(generation.id):
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
    stream = streams.StreamWriter(generation.id)
    try:
        backend = engine_backend()
        messages, dropped = prompt_build(generation, backend)
    except BackendError as exc:
        _settle_failed(generation, stream, "", exc.code, str(exc))
        return
    result = StreamResult()
    try:
        if _sources_miss(generation, backend, messages):
            _settle_no_answer(generation, stream)
            return
        _relay_deltas(generation, backend, messages, result, stream)
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


def _sources_miss(generation: Generation, backend: Backend, messages: list[ChatMessage]) -> bool:
    """A grounded answer whose sources, the model says, do not answer the question. The
    check's probability and threshold are kept with the generation (admin, evaluation)."""
    if not generation.context.get("check"):
        return False
    question = messages[-1]["content"] if messages else ""
    check = sources_check(backend, messages, question, f"{generation.id}:check")
    context = {**generation.context, "check_result": check.as_json()}
    Generation.objects.filter(id=generation.id).update(context=context)
    generation.context = context
    log.info("generation %s source check %s", generation.id, check.as_json())
    return check.declines


def _settle_no_answer(generation: Generation, stream: streams.StreamWriter) -> None:
    """Answer with the honest no-answer reply, as if retrieval had found nothing."""
    text = no_answer_text(_question(generation))
    stream.delta(text)
    if generation_finish(
        generation=generation,
        status=Generation.Status.DONE,
        text=text,
        sources=[],
        route="no_answer",
        first_token_at=timezone.now(),
    ):
        _stream_final(
            generation, lambda: stream.done(Generation.Status.DONE, {}, route="no_answer")
        )
        metrics.generation_observe(status=Generation.Status.DONE)
    else:
        log.warning("generation %s was settled elsewhere (reaped?)", generation.id)


def _question(generation: Generation) -> str:
    """The customer's message this generation answers."""
    question = (
        Message.objects.filter(
            conversation_id=generation.conversation_id,
            role=Message.Role.USER,
            id__lt=generation.message_id,
        )
        .order_by("-id")
        .values_list("text", flat=True)
        .first()
    )
    return question or ""


def _relay_deltas(
    generation: Generation,
    backend: Backend,
    messages: list[ChatMessage],
    result: StreamResult,
    stream: streams.StreamWriter,
) -> None:
    """Stream from the backend into the generation's Redis Stream, coalesced, until the
    end or a cancel (checked every CANCEL_CHECK_SECONDS, then the backend is aborted)."""
    params = GenerationParams(
        max_tokens=settings.GENERATION_MAX_TOKENS, temperature=settings.GENERATION_TEMPERATURE
    )
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
    sources = sources_cited(result.text, generation.context.get("sources") or [])
    route, text = generation.context.get("route") or "", result.text
    replaced = None  # the final text, when it is not what was streamed
    if route == "grounded" and result.status == Generation.Status.DONE and answer_declines(text):
        # The model said the sources do not answer: the outcome is the no-answer reply.
        route, sources = "no_answer", []
        text = replaced = no_answer_text(_question(generation))
    if not generation_finish(
        generation=generation,
        status=result.status,
        text=text,
        first_token_at=result.first_token_at,
        sources=sources,
        route=route,
        dropped_messages=dropped,
        prompt_tokens=usage["prompt_tokens"],
        completion_tokens=usage["completion_tokens"],
    ):
        log.warning("generation %s was settled elsewhere (reaped?)", generation.id)
        return
    _stream_final(
        generation, lambda: stream.done(result.status, usage, route, sources, text=replaced)
    )
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
    for staff only: clients get the code's fixed text (webapp.errors)."""
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
