"""The Redis Stream of one generation: coalesced deltas, then one final event.

Entry ids are `0-<seq>` (Redis numbers them for us with `0-*`), so a client that
reconnects after `seq` N reads from id `0-N` and gets exactly what it missed.

A Redis restart without persistence loses the stream. The worker writing it then fails the
generation (its text is kept in the database) rather than start a new stream whose seqs
would begin again at 1; readers fall back on the stored answer (chat.relay).
"""

import json
from typing import Any, Literal, TypedDict, cast

from django.conf import settings

from webapp.errors import error_text
from webapp.redis import redis_key, redis_sync


class StreamLost(Exception):
    """The stream a writer was appending to is gone (Redis restarted without it)."""


class DeltaEvent(TypedDict):
    type: Literal["generation.delta"]
    generation_id: str
    seq: int
    text: str


class DoneEvent(TypedDict, total=False):
    type: Literal["generation.done"]
    generation_id: str
    seq: int
    status: str
    usage: dict[str, int]
    route: str  # the final outcome: fast_path, grounded, no_answer, or "" for plain chat
    sources: list[dict[str, Any]]  # what the answer cites
    text: str  # the final text: when replayed from the database, or when it replaced the
    # streamed one (a grounded answer that declined is settled as the no-answer reply)
    method: str  # a summary's: "model" or "extractive" (chat.kinds.Outcome.extra)


class ProgressEvent(TypedDict):
    type: Literal["generation.progress"]
    generation_id: str
    seq: int
    done: int  # steps done
    total: int  # of this many


class ErrorEvent(TypedDict):
    type: Literal["generation.error"]
    generation_id: str
    seq: int
    code: str
    detail: str


StreamEvent = DeltaEvent | DoneEvent | ProgressEvent | ErrorEvent


def stream_key(generation_id: object) -> str:
    return redis_key("gen", generation_id)


def cancel_key(generation_id: object) -> str:
    return redis_key("gen", generation_id, "cancel")


def stream_append(generation_id: object, fields: dict[str, str], *, continued: bool = False) -> int:
    """Append one entry and return its seq. `continued`: the stream must exist already
    (the writer appended to it before); StreamLost if it does not."""
    key = stream_key(generation_id)
    client = redis_sync()
    pipe = client.pipeline()
    pipe.xadd(key, fields, id="0-*", nomkstream=continued)  # type: ignore[arg-type]
    pipe.expire(key, settings.GENERATION_STREAM_TTL)
    entry_id, _ = pipe.execute()
    if entry_id is None:
        raise StreamLost(f"the stream of generation {generation_id} is gone")
    return int(entry_id.split("-")[1])


class StreamWriter:
    """The one way entries are written to a generation's stream (by the worker, the reaper,
    a ready answer, a cancel): every entry after the first must land in the stream the
    first one made."""

    def __init__(self, generation_id: object) -> None:
        self.generation_id = generation_id
        self.written = 0

    def _append(self, fields: dict[str, str]) -> int:
        seq = stream_append(self.generation_id, fields, continued=self.written > 0)
        self.written += 1
        return seq

    def delta(self, text: str) -> int:
        return self._append({"kind": "delta", "text": text})

    def done(
        self,
        status: str,
        usage: dict[str, int],
        route: str = "",
        sources: list[dict[str, Any]] | None = None,
        text: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> int:
        fields = _done_fields(status, usage, route, sources, text)
        if extra:
            fields["extra"] = json.dumps(extra, ensure_ascii=False)
        return self._append(fields)

    def error(self, code: str) -> int:
        return self._append({"kind": "error", "code": code})


def stream_progress(generation_id: object, done: int, total: int) -> int | None:
    """Append `generation.progress` for a job in steps; from any worker running a step, so
    it never fails the step: progress is kept in the database too."""
    try:
        return stream_append(
            generation_id, {"kind": "progress", "done": str(done), "total": str(total)}
        )
    except Exception:  # Redis away: the reader polls the row
        return None


def _done_fields(
    status: str,
    usage: dict[str, int],
    route: str,
    sources: list[dict[str, Any]] | None,
    text: str | None,
) -> dict[str, str]:
    fields = {
        "kind": "done",
        "status": status,
        "usage": json.dumps(usage),
        "route": route,
        "sources": json.dumps(sources or [], ensure_ascii=False),
    }
    if text is not None:
        fields["text"] = text
    return fields


def stream_text(generation_id: object) -> str:
    """All delta text written so far: what a dead worker had streamed."""
    entries = cast(list[tuple[str, dict[str, str]]], redis_sync().xrange(stream_key(generation_id)))
    return "".join(fields.get("text", "") for _, fields in entries if fields.get("kind") == "delta")


def stream_event(generation_id: str, entry_id: str, fields: dict[str, Any]) -> StreamEvent:
    """Turn a stream entry into the socket event a client receives."""
    seq = int(entry_id.split("-")[1])
    kind = fields.get("kind")
    if kind == "delta":
        return {
            "type": "generation.delta",
            "generation_id": generation_id,
            "seq": seq,
            "text": fields["text"],
        }
    if kind == "done":
        done: DoneEvent = {
            "type": "generation.done",
            "generation_id": generation_id,
            "seq": seq,
            "status": fields["status"],
            "usage": json.loads(fields["usage"]),
            "route": fields.get("route", ""),
            "sources": json.loads(fields.get("sources") or "[]"),
        }
        if "text" in fields:
            done["text"] = fields["text"]
        for name, value in json.loads(fields.get("extra") or "{}").items():
            done[name] = value  # type: ignore[literal-required]
        return done
    if kind == "progress":
        return {
            "type": "generation.progress",
            "generation_id": generation_id,
            "seq": seq,
            "done": int(fields["done"]),
            "total": int(fields["total"]),
        }
    code = fields.get("code", "failed")
    return {
        "type": "generation.error",
        "generation_id": generation_id,
        "seq": seq,
        "code": code,
        "detail": str(error_text(code)),
    }


def cancel_request(generation_id: object) -> None:
    redis_sync().set(cancel_key(generation_id), "1", ex=settings.GENERATION_STREAM_TTL)


def cancel_requested(generation_id: object) -> bool:
    return bool(redis_sync().exists(cancel_key(generation_id)))
