"""StreamRelay: forwards one generation's Redis Stream to one socket, from any seq on.

The database is the truth once a generation is settled: when the stream is gone (expired,
or lost with a Redis restart) or Redis cannot be reached, the stored answer is replayed.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.utils import timezone, translation
from redis.exceptions import RedisError

from chat import streams
from chat.kinds import kind_get
from chat.models import Generation
from chat.selectors import generation_queue_position
from chat.services import generation_reap
from webapp.db import db_async
from webapp.errors import error_text
from webapp.redis import redis_async

log = logging.getLogger(__name__)
BLOCK_MS = 1000
RETRY_MAX_SECONDS = 5.0
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _generation_state(generation_id: str) -> tuple[Generation | None, int, bool]:
    """The generation, its place in the queue, and whether its worker went quiet."""
    generation = Generation.objects.select_related("message").filter(id=generation_id).first()
    if generation is None:
        return None, 0, False
    stale = False
    if generation.status == Generation.Status.STREAMING and generation.heartbeat_at:
        quiet = (timezone.now() - generation.heartbeat_at).total_seconds()
        stale = quiet > settings.GENERATION_STALE_SECONDS
    return generation, generation_queue_position(generation), stale


def _reap(generation: Generation) -> int:
    return generation_reap(generation=generation)


class StreamRelay:
    def __init__(self, generation_id: str, after_seq: int, send: Send, language: str = "") -> None:
        self.generation_id = generation_id
        self.after_seq = after_seq
        self.send = send
        self.language = language or settings.LANGUAGE_CODE
        self._position: int | None = None

    async def run(self) -> None:
        key = streams.stream_key(self.generation_id)
        # Straight to the stream; the database is asked only while it stays quiet.
        last = f"0-{self.after_seq}"
        retry = 0.25
        while True:
            try:
                reply = await redis_async().xread({key: last}, count=200, block=BLOCK_MS)
                if not reply:
                    if await self._idle():
                        return
                    continue
                retry = 0.25
            except RedisError as exc:
                log.warning("stream of %s unreachable (%s); retrying", self.generation_id, exc)
                if await self._replay_settled():
                    return
                await asyncio.sleep(retry)
                retry = min(retry * 2, RETRY_MAX_SECONDS)
                continue
            for entry_id, fields in reply[0][1]:
                last = entry_id
                with translation.override(self.language):
                    event = streams.stream_event(self.generation_id, entry_id, fields)
                await self.send(dict(event))
                if event["type"] not in ("generation.delta", "generation.progress"):
                    return

    async def _replay_settled(self) -> bool:
        """Send the stored outcome of a settled generation, once; False if not settled."""
        generation, _, _ = await db_async(_generation_state)(self.generation_id)
        if generation is None or generation.status not in Generation.FINAL:
            return False
        result = await db_async(kind_get(generation.kind).result)(generation)
        if generation.status == Generation.Status.FAILED:
            code = generation.error_code or "failed"
            with translation.override(self.language):
                detail = str(error_text(code))
            await self.send(
                {
                    "type": "generation.error",
                    "generation_id": self.generation_id,
                    "seq": 0,
                    "code": code,
                    "detail": detail,
                    "text": result.text,
                }
            )
        else:
            await self.send(
                {
                    "type": "generation.done",
                    "generation_id": self.generation_id,
                    "seq": 0,
                    "status": generation.status,
                    "usage": {
                        "prompt_tokens": generation.prompt_tokens,
                        "completion_tokens": generation.completion_tokens,
                    },
                    "route": result.route,
                    "sources": result.sources,
                    "text": result.text,
                    **result.extra,
                }
            )
        return True

    async def _idle(self) -> bool:
        """Nothing new: report the queue position, reap a dead worker. True to stop."""
        generation, position, stale = await db_async(_generation_state)(self.generation_id)
        if generation is None:
            return True
        if generation.status == Generation.Status.QUEUED and position != self._position:
            self._position = position
            await self.send(
                {
                    "type": "generation.queued",
                    "generation_id": self.generation_id,
                    "position": position,
                }
            )
        if stale:
            await db_async(_reap)(generation)
        if generation.status in Generation.FINAL:
            # Settled but nothing reached the stream (it expired, was lost, never written).
            return await self._replay_settled()
        return False
