"""The handoff: who answers a conversation, and every change of it.

A conversation is `bot` (the assistant answers), `waiting` (a person was asked for: in the
queue), `assigned` (an agent owns it; the assistant is silent) or `resolved`. It goes to
a person when the visitor asks for one (in any wording: the intent classifier, or the
"Talk to a person" button), is frustrated, a site rule matches the message's intent, or
the assistant could not answer twice in a row. Each change is a HandoffEvent (who, why,
when), told to the visitor's sockets as `handoff.state` and to the site's consoles as
`inbox.changed`; a conversation handed to a person gets its summary (summarize) at once.

Outside the site's business hours, or with no agent online, it waits all the same: the
event says `agents_online: false`, the visitor may leave an email, the inbox keeps it.
"""

import contextlib
import logging
import re
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from chat.answers import AnswerPlan
from chat.models import Conversation, Message
from chat.notify import group_send, layer_send
from chat.selectors import person_name
from console.models import AgentProfile, HandoffEvent
from console.selectors import agent_sites
from knowledge.text import text_language
from sites.models import Site

log = logging.getLogger(__name__)

State = Conversation.State
OPEN_STATES = (State.WAITING, State.ASSIGNED)

HANDOFF_TEXT = {
    "en": "I'm connecting you with a person from our team. They will see this conversation "
    "and reply here.",
    "zh": "正在为您转接人工客服，客服会看到这段对话并在这里回复您。",
}
OFFLINE_TEXT = {
    "en": "No one from our team is available right now. Leave your email and a message, and "
    "we will reply as soon as we can.",
    "zh": "目前没有客服在线。请留下您的邮箱和留言，我们会尽快回复您。",
}
_AMOUNT = re.compile(r"(?<![\d.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?(?![\d])")


def console_group(site_id: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}.console.{site_id}"


# Deciding --------------------------------------------------------------------------------


def handoff_decide(message: Message, plan: AnswerPlan) -> AnswerPlan | None:
    """chat.services' decider: hand the visitor's message to a person instead of
    answering it, or None. A resolved conversation the visitor writes in again is the
    assistant's again."""
    conversation = message.conversation
    if conversation.state == State.RESOLVED:
        conversation_state_set(
            conversation=conversation, state=State.BOT, actor_kind="visitor",
            reason="visitor_returned",
        )  # fmt: skip
    reason, detail = handoff_reason(conversation.site, message.text)
    if not reason:
        return None
    handoff_start(conversation=conversation, actor_kind="visitor", reason=reason, detail=detail)
    return AnswerPlan(route="handoff", text=handoff_text(conversation, message.text))


def handoff_reason(site: Site, text: str) -> tuple[str, str]:
    """(reason, detail) when the message asks for a person or a rule matches; ("", "")."""
    from console.intents import intent_classify

    intent = intent_classify(site, text)
    detail = f"{intent.label} {intent.probability:.2f}"
    if intent.probability < settings.HANDOFF_INTENT_THRESHOLD:
        return "", ""
    if intent.label == "handoff":
        return "visitor_request", detail
    if intent.label == "frustration":
        return "frustration", detail
    for rule in site.handoff_rules.filter(active=True, intent=intent.label):
        if rule.min_amount is None or _amount_at_least(text, rule.min_amount):
            return "rule", f"{rule}: {detail}"
    return "", ""


def _amount_at_least(text: str, minimum: Decimal) -> bool:
    for whole, cents in _AMOUNT.findall(text):
        try:
            if Decimal(whole.replace(",", "") + (f".{cents}" if cents else "")) >= minimum:
                return True
        except InvalidOperation:
            continue
    return False


def answer_settled(message_id: int) -> None:
    """chat.services' hook: the second no-answer in a row hands the visitor to a person."""
    message = Message.objects.select_related("conversation__site").filter(id=message_id).first()
    if message is None or message.route != "no_answer":
        return
    conversation = message.conversation
    if conversation.state != State.BOT:
        return
    previous = (
        conversation.messages.filter(id__lt=message.id)
        .exclude(role=Message.Role.USER)
        .order_by("-id")
        .values_list("role", "route")
        .first()
    )
    if previous == (Message.Role.ASSISTANT, "no_answer"):
        handoff_start(
            conversation=conversation, actor_kind="assistant", reason="repeated_no_answer"
        )


def handoff_text(conversation: Conversation, written: str = "") -> str:
    language = text_language(written)
    if not agents_available(conversation.site):
        return OFFLINE_TEXT[language]
    return HANDOFF_TEXT[language]


# Changing --------------------------------------------------------------------------------


def conversation_state_set(
    *,
    conversation: Conversation,
    state: str,
    actor_kind: str,
    reason: str,
    actor: Any = None,
    assignee: Any = None,
    detail: str = "",
    allowed_from: tuple[str, ...] = (),
) -> bool:
    """Move the conversation to `state` (from one of `allowed_from`, any if empty) and keep
    the event; False if it was not in an allowed state. Sockets and consoles hear of it
    once the transaction commits."""
    with transaction.atomic():
        current = Conversation.objects.select_for_update().filter(id=conversation.id).first()
        if current is None or (allowed_from and current.state not in allowed_from):
            return False
        before = current.state
        if before == state and current.assignee_id == getattr(assignee, "id", None):
            return False
        now = timezone.now()
        Conversation.objects.filter(id=conversation.id).update(
            state=state, assignee=assignee, state_changed_at=now, updated_at=now
        )
        HandoffEvent.objects.create(
            conversation=conversation,
            state_from=before,
            state_to=state,
            actor=actor if getattr(actor, "is_authenticated", False) else None,
            actor_kind=actor_kind,
            reason=reason,
            detail=detail[:300],
        )
        conversation.state, conversation.assignee, conversation.state_changed_at = (
            state, assignee, now
        )  # fmt: skip
        site_id = conversation.site_id
        transaction.on_commit(lambda: _announce(conversation.id, site_id), robust=True)
    return True


def handoff_start(
    *, conversation: Conversation, actor_kind: str, reason: str, detail: str = ""
) -> bool:
    """Put the conversation in the queue for a person, with its summary; then give it to an
    online agent if the site assigns automatically."""
    moved = conversation_state_set(
        conversation=conversation, state=State.WAITING, actor_kind=actor_kind, reason=reason,
        detail=detail, allowed_from=(State.BOT, State.RESOLVED),
    )  # fmt: skip
    if moved:
        conversation_id, site_id = conversation.id, conversation.site_id
        transaction.on_commit(lambda: _summary_start(conversation_id), robust=True)
        transaction.on_commit(lambda: auto_assign(site_id), robust=True)
    return moved


def handoff_request(*, conversation: Conversation) -> bool:
    """The visitor asked for a person (the button)."""
    return handoff_start(conversation=conversation, actor_kind="visitor", reason="visitor_request")


def conversation_assign(
    *, conversation: Conversation, agent: Any, by: Any = None, reason: str = ""
) -> bool:
    """Give the conversation to `agent` (an agent of its site): taken, transferred or
    assigned automatically. The visitor hears `agent.joined`."""
    if not agent_may_answer(agent, conversation.site):
        raise ValidationError(_("This person is not an agent of the site."), code="not_agent")
    previous = conversation.assignee_id
    reason = reason or ("transfer" if previous and previous != agent.id else "assigned")
    moved = conversation_state_set(
        conversation=conversation, state=State.ASSIGNED, actor=by or agent,
        actor_kind="agent" if by is not None else "system", reason=reason,
        assignee=agent, detail=agent.get_username(),
    )  # fmt: skip
    if moved:
        AgentProfile.objects.filter(user=agent).update(last_assigned_at=timezone.now())
        conversation_id, name = conversation.id, person_name(agent)
        transaction.on_commit(
            lambda: group_send(conversation_id, {"type": "agent.joined", "agent": {"name": name}}),
            robust=True,
        )
    return moved


def conversation_resolve(*, conversation: Conversation, by: Any) -> bool:
    """Resolved: the visitor is asked how it went (the survey)."""
    site_id = conversation.site_id
    moved = conversation_state_set(
        conversation=conversation, state=State.RESOLVED, actor=by, actor_kind="agent",
        reason="resolved", allowed_from=(State.BOT, State.WAITING, State.ASSIGNED),
    )  # fmt: skip
    if moved:
        transaction.on_commit(lambda: auto_assign(site_id), robust=True)
    return moved


def conversation_hand_back(*, conversation: Conversation, by: Any) -> bool:
    """The assistant answers again."""
    site_id = conversation.site_id
    moved = conversation_state_set(
        conversation=conversation, state=State.BOT, actor=by, actor_kind="agent",
        reason="hand_back", allowed_from=OPEN_STATES,
    )  # fmt: skip
    if moved:
        transaction.on_commit(lambda: auto_assign(site_id), robust=True)
    return moved


def agent_replied(*, conversation: Conversation, author: Any) -> None:
    """chat.services' hook before an agent's message: an agent who replies to a conversation
    someone else does not own takes it."""
    if not agent_may_answer(author, conversation.site):
        return
    conversation.refresh_from_db(fields=["state", "assignee"])
    if conversation.state != State.ASSIGNED or conversation.assignee_id is None:
        conversation_assign(conversation=conversation, agent=author, by=author, reason="replied")


def csat_record(*, conversation: Conversation, score: int, comment: str = "") -> None:
    """The visitor's satisfaction (1-5, a comment), after an agent resolved it."""
    if not 1 <= score <= 5:
        raise ValidationError(_("The score is a whole number from 1 to 5."), code="invalid_score")
    if not conversation.handoff_events.filter(state_to=State.RESOLVED).exists():
        raise ValidationError(
            _("The survey opens when the conversation is resolved."), code="not_resolved"
        )
    Conversation.objects.filter(id=conversation.id).update(
        csat_score=score, csat_comment=comment[:2000]
    )
    conversation.csat_score, conversation.csat_comment = score, comment[:2000]
    _console_send(conversation.site_id, conversation.id)


def contact_record(*, conversation: Conversation, email: str) -> None:
    """An email the visitor leaves to be answered at (nobody online)."""
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ValidationError(_("Enter a valid email address."), code="invalid_email") from exc
    Conversation.objects.filter(id=conversation.id).update(contact_email=email)
    conversation.contact_email = email
    _console_send(conversation.site_id, conversation.id)


# Agents ----------------------------------------------------------------------------------


def agent_may_answer(user: Any, site: Site) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return bool(user.is_superuser or AgentProfile.objects.filter(user=user, sites=site).exists())


def agents_online_query(site: Site) -> Any:
    """Agents of the site (superusers: of every site) with a console open (seen lately) and
    not away."""
    cutoff = timezone.now() - timedelta(seconds=settings.AGENT_SEEN_SECONDS)
    return AgentProfile.objects.filter(
        Q(sites=site) | Q(user__is_superuser=True),  # a superuser answers every site
        presence=AgentProfile.Presence.ONLINE, seen_at__gte=cutoff, user__is_active=True,
    ).distinct()  # fmt: skip


def agents_available(site: Site, now: datetime | None = None) -> bool:
    return business_open(site, now) and agents_online_query(site).exists()


def agent_seen(*, user: Any, presence: str | None = None) -> None:
    """A console of the agent is open (its socket connected or beat); `presence` sets
    online or away. Coming online gives them waiting conversations."""
    fields: dict[str, Any] = {"seen_at": timezone.now()}
    if presence in AgentProfile.Presence.values:
        fields["presence"] = presence
    profiles = AgentProfile.objects.filter(user=user)
    profiles.update(**fields)
    for site_id in agent_sites(user).values_list("id", flat=True):
        auto_assign(site_id)


def auto_assign(site_id: int) -> int:
    """Give waiting conversations (oldest first) to online agents under their limit, in
    turn (the one assigned longest ago first). Returns how many were given."""
    site = Site.objects.filter(id=site_id).first()
    if site is None or not site.auto_assign or not business_open(site):
        return 0
    given = 0
    for conversation in Conversation.objects.filter(site=site, state=State.WAITING).order_by(
        "state_changed_at"
    )[:50]:
        agent = (
            agents_online_query(site)
            .annotate(
                open_count=Count(
                    "user__assigned_conversations",
                    filter=Q(user__assigned_conversations__state=State.ASSIGNED),
                    distinct=True,  # the join over sites repeats each conversation
                )
            )
            .filter(open_count__lt=F("max_open"))
            .order_by(F("last_assigned_at").asc(nulls_first=True), "id")
            .select_related("user")
            .first()
        )
        if agent is None:
            break
        if conversation_assign(conversation=conversation, agent=agent.user, reason="auto"):
            given += 1
    return given


def business_open(site: Site, now: datetime | None = None) -> bool:
    """Whether `now` falls in the site's business hours ('mon-fri 09:00-18:00; sat
    10:00-14:00', in its time zone); always when none are set or they do not parse."""
    spec = site.business_hours.strip()
    if not spec:
        return True
    try:
        zone = ZoneInfo(site.time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = (now or timezone.now()).astimezone(zone)
    rules = business_hours_parse(spec)
    if rules is None:
        log.warning("site %s: business hours %r do not parse; open", site.slug, spec)
        return True
    minute = local.hour * 60 + local.minute
    return any(local.weekday() in days and start <= minute < end for days, start, end in rules)


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RULE = re.compile(
    r"^\s*([a-z]{3})(?:\s*-\s*([a-z]{3}))?\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$"
)


def business_hours_parse(spec: str) -> list[tuple[set[int], int, int]] | None:
    rules = []
    for part in spec.lower().split(";"):
        if not part.strip():
            continue
        found = _RULE.match(part)
        if found is None or found.group(1) not in DAYS:
            return None
        first, last = DAYS.index(found.group(1)), DAYS.index(found.group(2) or found.group(1))
        days = {d % 7 for d in range(first, last + (7 if last < first else 0) + 1)}
        h1, m1, h2, m2 = (int(found.group(i)) for i in range(3, 7))
        rules.append((days, h1 * 60 + m1, h2 * 60 + m2))
    return rules


# Telling ---------------------------------------------------------------------------------


def queue_position(conversation: Conversation) -> int:
    """1 for the next to be answered among the site's waiting conversations."""
    return (
        Conversation.objects.filter(
            site_id=conversation.site_id,
            state=State.WAITING,
            state_changed_at__lt=conversation.state_changed_at,
        ).count()
        + 1
    )


def availability(site: Site) -> tuple[bool, bool]:
    """(business open, an agent online) of a site, as `handoff.state` tells them."""
    is_open = business_open(site)
    return is_open, is_open and agents_online_query(site).exists()


def handoff_state_json(
    conversation: Conversation, available: tuple[bool, bool] | None = None
) -> dict[str, Any]:
    """The `handoff.state` event of a conversation as its visitor sees it (`available`:
    its site's, when the caller has it already)."""
    is_open, online = available or availability(conversation.site)
    event: dict[str, Any] = {
        "type": "handoff.state",
        "state": conversation.state,
        "agents_online": online,
        "business_open": is_open,
    }
    if conversation.state == State.WAITING:
        event["position"] = queue_position(conversation)
    if conversation.state == State.ASSIGNED and conversation.assignee is not None:
        event["agent"] = {"name": person_name(conversation.assignee)}
    return event


def socket_open_frame(conversation: Conversation) -> dict[str, Any] | None:
    """chat.services' socket-open frame: the state, when someone other than the bot answers."""
    conversation.refresh_from_db(fields=["state", "assignee", "state_changed_at"])
    if conversation.state == State.BOT:
        return None
    return handoff_state_json(conversation)


def _announce(conversation_id: Any, site_id: int) -> None:
    """The conversation's new state to its sockets, the new queue places to the others
    waiting on the site, and a change to the site's consoles."""
    conversation = Conversation.objects.select_related("site", "assignee").get(id=conversation_id)
    available = availability(conversation.site)  # the same for every conversation of the site
    group_send(conversation.id, handoff_state_json(conversation, available))
    waiting = (
        Conversation.objects.filter(site_id=site_id, state=State.WAITING)
        .exclude(id=conversation.id)
        .order_by("state_changed_at")
    )
    for other in waiting[:200]:
        group_send(other.id, handoff_state_json(other, available))
    _console_send(site_id, conversation.id)


def _console_send(site_id: int, conversation_id: Any) -> None:
    layer_send(
        console_group(site_id), {"type": "inbox.changed", "conversation_id": str(conversation_id)}
    )


def console_message_seen(message: Message) -> None:
    """chat.services' visitor hook: a new visitor message moves the consoles' inboxes."""
    conversation = message.conversation
    if conversation.state in OPEN_STATES:
        site_id, conversation_id = conversation.site_id, conversation.id
        transaction.on_commit(lambda: _console_send(site_id, conversation_id), robust=True)


def _summary_start(conversation_id: Any) -> None:
    """The summary an agent reads first (summarize), made when the person is asked for."""
    from summarize.services import SummaryInputError, conversation_summarize

    conversation = Conversation.objects.filter(id=conversation_id).first()
    if conversation is None:
        return
    with contextlib.suppress(SummaryInputError):  # nothing said yet: nothing to summarize
        conversation_summarize(conversation=conversation)


def state_history(conversation: Conversation) -> list[HandoffEvent]:
    return list(conversation.handoff_events.select_related("actor"))
