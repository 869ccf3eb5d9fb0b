"""The conversation socket: authenticates in connect, validates frames, relays streams.

No model call and no history live here: messages go to the database, answers come
from each generation's Redis Stream.
"""

import asyncio
import contextlib
import json
import logging
from typing import Any
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation.trans_real import parse_accept_lang_header
from redis.exceptions import RedisError

from chat import services
from chat.events import CLIENT_EVENTS, FrameError, field_int, field_str, message_created
from chat.models import Conversation, Generation
from chat.relay import StreamRelay
from chat.selectors import conversation_access, generation_get, person_name, staff_side
from chat.tokens import job_token_read
from sites import access
from sites.limits import LimitReached
from webapp.db import db_async
from webapp.errors import error_text

log = logging.getLogger(__name__)
# Close codes (README): the application may use 1000 and 4000-4999 (daphne refuses 1009).
CLOSE_UNAUTHORIZED = 4401  # no valid token or session for this conversation: do not retry
CLOSE_FORBIDDEN = 4403  # a foreign Origin: do not retry
CLOSE_TOO_BIG = 4009  # a frame over WS_MAX_FRAME_BYTES, after `error frame_too_large`
CLOSE_UNAVAILABLE = 4503  # Redis unreachable: reconnect with backoff, then resume from seq


def socket_language(scope: dict[str, Any]) -> str:
    """The first language of the handshake's Accept-Language that the product speaks."""
    header = dict(scope.get("headers", [])).get(b"accept-language", b"").decode("latin-1")
    for code, _quality in parse_accept_lang_header(header[:255]):
        try:
            return translation.get_supported_language_variant(code)
        except LookupError:
            continue
    return str(settings.LANGUAGE_CODE)


def _origin(scope: dict[str, Any]) -> tuple[str, str]:
    headers = dict(scope.get("headers", []))
    return headers.get(b"origin", b"").decode("latin-1"), headers.get(b"host", b"").decode(
        "latin-1"
    )


def origin_allowed(scope: dict[str, Any], conversation: Conversation) -> bool:
    """A conversation's socket: this host, a configured origin or one of its site's."""
    origin, host = _origin(scope)
    if access.origin_allowed(origin, host, conversation.site):
        return True
    log.warning("refused a socket of site %s from origin %r", conversation.site.slug, origin)
    return False


def same_origin(scope: dict[str, Any]) -> bool:
    """A job's socket: this host or a configured origin (staff tools are not embedded)."""
    origin, host = _origin(scope)
    if access.origin_allowed(origin, host):
        return True
    log.warning("refused a job socket from origin %r", origin)
    return False


def group_name(conversation_id: object) -> str:
    return f"{settings.REDIS_KEY_PREFIX}.conversation.{conversation_id}"


class SocketConsumer(AsyncWebsocketConsumer):
    """What every socket of the product shares: frame limits and parsing, the error
    frames, Redis loss, and relays of generation streams."""

    client_events: tuple[str, ...] = ()
    relays: dict[str, asyncio.Task[None]]
    language: str

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """A Redis that goes away under the socket (channel layer, streams) closes it with
        CLOSE_UNAVAILABLE, never 1011: the client reconnects and resumes from its last seq."""
        self.relays = {}
        try:
            await super().__call__(scope, receive, send)
        except RedisError as exc:
            log.warning("socket closed, Redis unreachable: %s", exc)
            self._relays_stop()
            await send({"type": "websocket.close", "code": CLOSE_UNAVAILABLE})

    async def disconnect(self, code: int) -> None:
        self._relays_stop()

    def _relays_stop(self) -> None:
        for task in self.relays.values():
            task.cancel()

    async def send_json(self, event: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(event, ensure_ascii=False))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        raw = text_data if text_data is not None else (bytes_data or b"")
        with translation.override(self.language):
            if len(raw.encode() if isinstance(raw, str) else raw) > settings.WS_MAX_FRAME_BYTES:
                await self.send_json(
                    {
                        "type": "error",
                        "code": "frame_too_large",
                        "detail": str(error_text("frame_too_large")),
                    }
                )
                await self.close(code=CLOSE_TOO_BIG)
                return
            try:
                event = self._parse(raw)
                await getattr(self, "on_" + event["type"].replace(".", "_"))(event)
            except FrameError as exc:
                await self.send_json(dict(exc.frame()))

    def _parse(self, raw: str | bytes) -> dict[str, Any]:
        try:
            event = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise FrameError("invalid_json", _("Frames must be JSON objects.")) from exc
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise FrameError("invalid_event", _("Frames must be JSON objects with a 'type'."))
        if event["type"] not in self.client_events:
            raise FrameError(
                "unknown_type", _("Unknown event type '%(type)s'.") % {"type": event["type"][:40]}
            )
        return event

    async def on_ping(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "pong"})

    def _relay_start(self, generation_id: str, after_seq: int) -> None:
        previous = self.relays.pop(generation_id, None)
        if previous is not None:
            previous.cancel()
        relay = StreamRelay(generation_id, after_seq, self.send_json, self.language)
        task = asyncio.create_task(relay.run())
        task.add_done_callback(lambda t: self._relay_done(generation_id, t))
        self.relays[generation_id] = task

    def _relay_done(self, generation_id: str, task: asyncio.Task[None]) -> None:
        if self.relays.get(generation_id) is task:
            del self.relays[generation_id]
        if not task.cancelled() and task.exception() is not None:
            log.error("relay of %s failed", generation_id, exc_info=task.exception())


class ConversationConsumer(SocketConsumer):
    """A visitor's (or staff member's) conversation: messages in, answers streamed out."""

    client_events = CLIENT_EVENTS
    conversation: Conversation
    staff = False

    async def connect(self) -> None:
        self.language = socket_language(self.scope)
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        conversation = await db_async(conversation_access)(
            conversation_id=self.scope["url_route"]["kwargs"]["conversation_id"],
            token=(query.get("token") or [None])[0],
            user=self.scope.get("user"),
        )
        if conversation is None:
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        if not origin_allowed(self.scope, conversation):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.conversation = conversation
        token = (query.get("token") or [None])[0]
        user = self.scope.get("user")
        # A staff session (not a visitor's token) of staff or an agent of the site may write
        # as an agent and sees both sides.
        self.staff = not token and await db_async(staff_side)(user, conversation)
        self.name = await db_async(person_name)(user) if self.staff else ""
        try:
            await self.channel_layer.group_add(group_name(conversation.id), self.channel_name)
        except RedisError as exc:
            # Accept, then close with a code the client retries: never an HTTP error.
            log.warning("socket refused for now, Redis unreachable: %s", exc)
            await self.accept()
            await self.close(code=CLOSE_UNAVAILABLE)
            return
        self.group = group_name(conversation.id)
        await self.accept()
        for frames in services.socket_open_frames:  # the handoff's state, when not the bot's
            frame = await db_async(frames)(conversation)
            if frame is not None:
                await self.send_json(frame)
        if self.staff:
            for hook in services.staff_open_hooks:  # live translation starts translating
                try:
                    await db_async(hook)(conversation)
                except Exception:
                    log.exception("staff open hook %s failed", hook)

    async def disconnect(self, code: int) -> None:
        await super().disconnect(code)
        if hasattr(self, "group"):
            with contextlib.suppress(RedisError):
                await self.channel_layer.group_discard(self.group, self.channel_name)

    async def on_user_message(self, event: dict[str, Any]) -> None:
        text = field_str(event, "text")
        client_id = field_str(event, "client_id", required=False, max_len=64)
        try:
            posted = await db_async(services.message_post)(
                conversation=self.conversation, text=text, client_id=client_id,
                address=str((self.scope.get("client") or [""])[0] or ""),
            )  # fmt: skip
        except ValidationError as exc:
            raise FrameError(exc.code or "invalid_message", " ".join(exc.messages)) from exc
        except services.ConversationBusy as exc:
            raise FrameError(
                "generation_in_progress",
                _("Wait for the current answer to finish (or stop it) before sending another."),
            ) from exc
        except LimitReached as exc:
            raise FrameError(exc.code, exc.detail, exc.retry_after) from exc
        events = [message_created(posted.user_message, client_id)]
        if posted.reply is not None:  # None while a person answers
            events.append(message_created(posted.reply))
        # This socket relays the answer at once rather than waiting for the group's echo.
        for created in events:
            await self.message_created(created)
        if posted.created:  # other sockets of the conversation (another tab) hear it too
            for created in events:
                await self.channel_layer.group_send(
                    self.group, {**created, "type": "message.created", "sender": self.channel_name}
                )

    async def on_agent_message(self, event: dict[str, Any]) -> None:
        """A staff member replies in the conversation (the admin's reply box)."""
        if not self.staff:
            raise FrameError("forbidden", _("Only staff may write as an agent."))
        text = field_str(event, "text")
        try:
            await db_async(services.agent_message_post)(
                conversation=self.conversation, author=self.scope.get("user"), text=text
            )
        except ValidationError as exc:
            raise FrameError(exc.code or "invalid_message", " ".join(exc.messages)) from exc

    async def on_cancel(self, event: dict[str, Any]) -> None:
        generation = await self._generation(field_str(event, "generation_id"))
        await db_async(services.generation_cancel)(generation=generation)

    async def on_resume(self, event: dict[str, Any]) -> None:
        generation = await self._generation(field_str(event, "generation_id"))
        self._relay_start(str(generation.id), field_int(event, "after_seq", default=0))

    async def on_typing(self, event: dict[str, Any]) -> None:
        """The other side sees `agent.typing` or `visitor.typing` (clients throttle it)."""
        await self.channel_layer.group_send(
            self.group,
            {"type": "conversation.typing", "staff": self.staff, "name": self.name,
             "sender": self.channel_name},
        )  # fmt: skip

    async def on_handoff_request(self, event: dict[str, Any]) -> None:
        await self._app_frame(event)

    async def on_csat(self, event: dict[str, Any]) -> None:
        await self._app_frame(event)

    async def on_contact(self, event: dict[str, Any]) -> None:
        await self._app_frame(event)

    async def _app_frame(self, event: dict[str, Any]) -> None:
        """A frame another app answers (services.frame_handlers): the handoff's."""
        handler = services.frame_handlers.get(event["type"])
        if handler is None:
            raise FrameError("unknown_type", _("Unknown event type '%(type)s'.") % event)
        try:
            reply = await db_async(handler)(conversation=self.conversation, event=event)
        except ValidationError as exc:
            raise FrameError(exc.code or "invalid_field", " ".join(exc.messages)) from exc
        if reply is not None:
            await self.send_json(reply)

    async def _generation(self, generation_id: str) -> Any:
        generation = await db_async(generation_get)(
            conversation=self.conversation, generation_id=generation_id
        )
        if generation is None:
            raise FrameError("not_found", _("No such generation in this conversation."))
        return generation

    # Group events (channel layer) -------------------------------------------------------

    async def agent_message(self, event: dict[str, Any]) -> None:
        """Group event: an agent's message, as this side sees it."""
        from chat.models import Message
        from chat.notify import agent_message_json

        def payload() -> dict[str, Any] | None:
            message = Message.objects.select_related("author").filter(id=event["message_id"])
            found = message.first()
            return agent_message_json(found, staff=self.staff) if found else None

        if (message := await db_async(payload)()) is not None:
            await self.send_json({"type": "agent.message", "message": message})

    async def handoff_state(self, event: dict[str, Any]) -> None:
        """Group event: the conversation's state changed (or its place in the queue)."""
        await self.send_json(dict(event))

    async def agent_joined(self, event: dict[str, Any]) -> None:
        await self.send_json(dict(event))

    async def conversation_typing(self, event: dict[str, Any]) -> None:
        if event.get("sender") == self.channel_name or event["staff"] == self.staff:
            return  # the typist's own side
        if event["staff"]:
            await self.send_json({"type": "agent.typing", "agent": {"name": event["name"]}})
        else:
            await self.send_json({"type": "visitor.typing"})

    async def message_translated(self, event: dict[str, Any]) -> None:
        """Group event: a visitor's message translated for staff; visitors never see it."""
        if self.staff:
            await self.send_json(dict(event))

    async def message_created(self, event: dict[str, Any]) -> None:
        if event.get("sender") == self.channel_name:
            return  # this socket announced it itself already
        await self.send_json({k: v for k, v in event.items() if k != "sender"})
        generation_id = event["message"].get("generation_id")
        if generation_id and generation_id not in self.relays:
            self._relay_start(generation_id, 0)


class JobConsumer(SocketConsumer):
    """The socket of one job (a summary): opened with the signed token of its ws_url,
    it replays the job from the start, then follows the live tail; no frame needed.
    Accepts `cancel` (Stop), `resume {after_seq}` and `ping`."""

    client_events = ("cancel", "resume", "ping")
    generation_id: str

    async def connect(self) -> None:
        self.language = socket_language(self.scope)
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        wanted = self.scope["url_route"]["kwargs"]["generation_id"]
        token = (query.get("token") or [""])[0]
        if job_token_read(token) != wanted:
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        if not same_origin(self.scope):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.generation_id = str(wanted)
        await self.accept()
        self._relay_start(self.generation_id, 0)

    async def on_cancel(self, event: dict[str, Any]) -> None:
        generation = await db_async(Generation.objects.filter(id=self.generation_id).first)()
        if generation is not None:
            await db_async(services.generation_cancel)(generation=generation)

    async def on_resume(self, event: dict[str, Any]) -> None:
        self._relay_start(self.generation_id, field_int(event, "after_seq", default=0))
