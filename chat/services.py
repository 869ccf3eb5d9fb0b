"""Writes: conversations, messages, and the life of a generation outside the model call."""

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from chat import streams
from chat.answers import AnswerPlan, answer_plan
from chat.kinds import Outcome, kind_get
from chat.models import Conversation, Generation, Message
from chat.selectors import generation_active
from sites.limits import visitor_message_spend
from sites.models import Site

log = logging.getLogger(__name__)


# Apps that act on a conversation's messages register here in their AppConfig.ready
# (translate: live translation), so that chat imports none of them.
visitor_message_hooks: list[Callable[[Message], None]] = []  # after a visitor's message
staff_open_hooks: list[Callable[[Conversation], None]] = []  # a staff socket opened it
agent_message_writers: list[Callable[..., Message]] = []  # stores an agent's message
# console (the handoff): a plan that hands the visitor to a person instead of answering
# (asked for one, frustrated, a site rule), or None; called inside the message's
# transaction, after the visitor hooks.
answer_deciders: list[Callable[[Message, AnswerPlan], AnswerPlan | None]] = []
answer_settled_hooks: list[Callable[[int], None]] = []  # an assistant answer settled (its id)
agent_message_hooks: list[Callable[..., None]] = []  # before an agent's message is stored
# Socket frames another app answers (console: handoff.request, csat, contact), by type:
# handler(conversation=..., event=...) -> the frame to send back, or None.
frame_handlers: dict[str, Callable[..., dict[str, Any] | None]] = {}
# Frames a conversation's socket gets when it opens (console: the handoff's state).
socket_open_frames: list[Callable[[Conversation], dict[str, Any] | None]] = []


class ConversationBusy(Exception):
    """The conversation already has an answer being written."""


@dataclass(frozen=True)
class PostedMessage:
    user_message: Message
    # The assistant's answer and its generation; None while a person answers the
    # conversation (waiting for one, or assigned).
    reply: Message | None
    reply_generation: Generation | None
    created: bool  # False when the client re-sent a message already stored

    @property
    def assistant_message(self) -> Message:
        """The assistant's answer, for a caller that knows the assistant answers."""
        if self.reply is None:
            raise LookupError("a person answers this conversation: no assistant message")
        return self.reply

    @property
    def generation(self) -> Generation:
        if self.reply_generation is None:
            raise LookupError("a person answers this conversation: no generation")
        return self.reply_generation


def conversation_create(
    *, site: Site, owner: Any = None, title: str = "", visitor_id: str = "", page_url: str = ""
) -> Conversation:
    conversation = Conversation(
        site=site, owner=owner, title=title[:200], visitor_id=visitor_id, page_url=page_url[:500]
    )
    conversation.full_clean()
    conversation.save()
    return conversation


def message_text_clean(text: str) -> str:
    text = text.strip()
    if not text:
        raise ValidationError(_("The message is empty."), code="empty_message")
    if len(text) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ValidationError(
            _("The message is longer than %(limit)d characters.")
            % {"limit": settings.CHAT_MAX_MESSAGE_CHARS},
            code="message_too_long",
        )
    return text


def message_post(
    *, conversation: Conversation, text: str, client_id: str = "", address: str = ""
) -> PostedMessage:
    """Store a user message and queue the assistant's answer to it (once per client_id).
    The visitor's limits count it first (sites.limits), also when an answer is in progress;
    a resend of a message already stored (a reconnect) is not a new one."""
    text = message_text_clean(text)
    client_id = client_id[:64]
    if client_id and (posted := _message_posted_before(conversation, client_id)):
        return posted
    if not conversation.site.allow_anonymous and not (
        conversation.visitor_id or conversation.owner_id
    ):
        raise ValidationError(
            _("This site answers verified visitors only: sign in on the site first."),
            code="identity_required",
        )
    visitor_message_spend(site=conversation.site, conversation_id=conversation.id, address=address)
    if generation_active(conversation) is not None:
        raise ConversationBusy
    conversation.refresh_from_db(fields=["state"])
    humans = conversation.state in HUMAN_STATES  # a person answers: the assistant is silent
    plan = AnswerPlan() if humans else answer_plan(site=conversation.site, question=text)
    try:
        with transaction.atomic():
            user_message = Message.objects.create(
                conversation=conversation, role=Message.Role.USER, text=text, client_id=client_id
            )
            # Before the answer is queued: a translation for staff (about a second) goes to
            # the chat queue ahead of the answer, not behind it.
            _visitor_hooks_run(user_message)
            assistant: Message | None = None
            generation: Generation | None = None
            if not humans:
                plan = _plan_decided(user_message, plan)
                assistant, generation = _answer_create(conversation, plan)
            if not conversation.title:
                conversation.title = text[:80]
            conversation.save(update_fields=["title", "updated_at"])
    except IntegrityError:  # the same client_id raced in from a second socket
        posted = _message_posted_before(conversation, client_id)
        if posted is None:
            raise
        return posted
    return PostedMessage(user_message, assistant, generation, created=True)


HUMAN_STATES = (Conversation.State.WAITING, Conversation.State.ASSIGNED)


def _plan_decided(message: Message, plan: AnswerPlan) -> AnswerPlan:
    """The plan, unless a decider hands the conversation to a person instead."""
    for decide in answer_deciders:
        decided = decide(message, plan)
        if decided is not None:
            return decided
    return plan


def answer_settled(message_id: int) -> None:
    """An assistant answer was settled (stored final): tell the apps that watch (handoff)."""
    for hook in answer_settled_hooks:
        try:
            hook(message_id)
        except Exception:
            log.exception("answer settled hook %s failed", hook)


def _visitor_hooks_run(message: Message) -> None:
    for hook in visitor_message_hooks:
        try:
            with transaction.atomic():  # a failing hook leaves the message's transaction whole
                hook(message)
        except Exception:  # a translation that cannot be queued never blocks the message
            log.exception("visitor message hook %s failed", hook)


def agent_message_post(*, conversation: Conversation, author: Any, text: str) -> Message:
    """A staff member writes in the conversation; the visitor gets `agent.message`."""
    from chat.notify import agent_message_announce

    text = message_text_clean(text)
    for hook in agent_message_hooks:  # the handoff: an agent who replies takes it
        hook(conversation=conversation, author=author)
    for writer in agent_message_writers:  # live translation translates it first
        return writer(conversation=conversation, author=author, text=text)
    message = Message.objects.create(
        conversation=conversation, role=Message.Role.AGENT, text=text,
        author=author if getattr(author, "is_authenticated", False) else None,
    )  # fmt: skip
    transaction.on_commit(lambda: agent_message_announce(message.id), robust=True)
    return message


def _answer_create(conversation: Conversation, plan: AnswerPlan) -> tuple[Message, Generation]:
    """The assistant message and its generation: settled at once when the plan already has
    the text (an approved FAQ answer, or no answer), else queued for the model."""
    ready = bool(plan.text)
    status = Message.Status.DONE if ready else Message.Status.QUEUED
    assistant = Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=status,
        text=plan.text,
        route=plan.route,
        sources=plan.sources if ready else [],
    )
    now = timezone.now()
    generation = Generation.objects.create(
        conversation=conversation,
        message=assistant,
        status=status,
        context={"route": plan.route, "sources": plan.sources, "check": plan.check},
        **({"started_at": now, "first_token_at": now, "done_at": now} if ready else {}),
    )
    # robust: with Redis down the rows are stored all the same; readers replay a ready
    # answer from them, and a lost task is sent again (generation_requeue).
    if ready:
        # Connected sockets get it through the same stream as a model's answer.
        transaction.on_commit(lambda: _stream_ready_answer(generation.id, plan), robust=True)
        transaction.on_commit(lambda: answer_settled(assistant.id), robust=True)
    else:
        transaction.on_commit(lambda: generation_schedule(generation.id), robust=True)
    return assistant, generation


def _stream_ready_answer(generation_id: uuid.UUID, plan: AnswerPlan) -> None:
    stream = streams.StreamWriter(generation_id)
    stream.delta(plan.text)
    stream.done(Generation.Status.DONE, {}, plan.route, plan.sources)


def _message_posted_before(conversation: Conversation, client_id: str) -> PostedMessage | None:
    user_message = conversation.messages.filter(client_id=client_id).first()
    if user_message is None:
        return None
    # The answer right after it, if the assistant answered it (not a person).
    following = (
        conversation.messages.filter(id__gt=user_message.id)
        .exclude(role=Message.Role.AGENT)
        .select_related("generation")
        .order_by("id")
        .first()
    )
    if following is None or following.role != Message.Role.ASSISTANT:
        return PostedMessage(user_message, None, None, created=False)
    return PostedMessage(user_message, following, following.generation, created=False)


def generation_schedule(generation_id: uuid.UUID | str, kind: str = "chat") -> None:
    """Send the generation's task to its kind's queue, with its kind's priority."""
    from chat.tasks import generation_run

    target = kind_get(kind)
    generation_run.apply_async(
        args=(str(generation_id),), queue=target.queue(), priority=target.priority
    )


def generation_requeue() -> int:
    """Send again the tasks of generations still queued and unclaimed GENERATION_REQUEUE_SECONDS
    after their task was sent: a broker that restarted without persistence lost them. The
    claim is conditional, so a task that was only slow to arrive runs once all the same.
    Returns how many were sent again."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.GENERATION_REQUEUE_SECONDS)
    waiting = Generation.objects.filter(status=Generation.Status.QUEUED, sent_at__lt=cutoff)
    sent = 0
    for generation_id, sent_at, kind in waiting.values_list("id", "sent_at", "kind")[:500]:
        # Whoever moves sent_at on sends the task: two reapers never send it twice.
        mine = Generation.objects.filter(
            id=generation_id, status=Generation.Status.QUEUED, sent_at=sent_at
        ).update(sent_at=now)
        if not mine:
            continue
        try:
            generation_schedule(generation_id, kind)
        except Exception:
            Generation.objects.filter(id=generation_id, sent_at=now).update(sent_at=sent_at)
            raise
        sent += 1
    if sent:
        log.warning("sent %d queued generation(s) to the broker again", sent)
    return sent


def generation_cancel(*, generation: Generation) -> None:
    """Ask the worker to stop; a generation still waiting in the queue is settled here."""
    streams.cancel_request(generation.id)
    if generation_finish(
        generation=generation,
        status=Generation.Status.CANCELLED,
        from_status=Generation.Status.QUEUED,
    ):
        streams.StreamWriter(generation.id).done(Generation.Status.CANCELLED, {})


def generation_finish(
    *,
    generation: Generation,
    status: str,
    from_status: str = Generation.Status.STREAMING,
    text: str | None = None,
    outcome: Outcome | None = None,
    error_code: str = "",
    error_detail: str = "",
    **fields: Any,
) -> bool:
    """Settle a generation and write its target once; False if someone else settled it
    first. `outcome` is what the target stores (its kind decides how); `text` alone is a
    partial text (a failure keeps what was written); neither leaves the target's text."""
    kind = kind_get(generation.kind)
    if outcome is None and text is not None:
        outcome = kind.partial(generation, text)
    now = timezone.now()
    with transaction.atomic():
        settled = Generation.objects.filter(id=generation.id, status=from_status).update(
            status=status,
            done_at=now,
            error_code=error_code,
            error_detail=error_detail,
            **fields,
        )
        if not settled:
            return False
        kind.store(generation, status, outcome)
    return True


def generation_reap(*, generation: Generation | None = None) -> int:
    """Mark failed the streaming generations whose worker stopped beating; keep their text.

    With `generation`, only that one is considered. Returns how many were reaped. While
    Redis is unreachable nothing is reaped: the streamed text would be lost with it."""
    cutoff = timezone.now() - timedelta(seconds=settings.GENERATION_STALE_SECONDS)
    stale = Generation.objects.filter(status=Generation.Status.STREAMING, heartbeat_at__lt=cutoff)
    if generation is not None:
        stale = stale.filter(id=generation.id)
    reaped = 0
    for candidate in stale:
        text = streams.stream_text(candidate.id)
        if generation_finish(
            generation=candidate,
            status=Generation.Status.FAILED,
            text=text,
            error_code="worker_lost",
            error_detail=f"no heartbeat from {candidate.worker} since {candidate.heartbeat_at}",
        ):
            streams.StreamWriter(candidate.id).error("worker_lost")
            reaped += 1
    return reaped
