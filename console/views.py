"""The agent console: an inbox and a conversation view, server-rendered, htmx for the
parts that change, live over Channels (console.consumers, the conversation's socket)."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from chat.models import Conversation
from chat.selectors import message_list
from chat.tokens import job_ws_path
from console import handoff, selectors, services
from console.models import AgentProfile
from translate.live import visitor_language

View = Callable[..., HttpResponse]


def agent_required(view: View) -> View:
    """Agents (and superusers) only: a login page for a browser without a session, 403 for
    anyone else, visitor tokens included (the console reads no token)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not selectors.is_agent(request.user):
            return HttpResponse("Only agents may open the console.", status=403)
        return view(request, *args, **kwargs)

    return wrapped


def _conversation(request: HttpRequest, conversation_id: object) -> Conversation:
    conversation = selectors.console_conversation(request.user, str(conversation_id))
    if conversation is None:
        raise Http404("No such conversation.")
    return conversation


def _tab(request: HttpRequest) -> str:
    tab = request.GET.get("tab", "waiting")
    return tab if tab in selectors.INBOX_TABS else "waiting"


def _inbox_context(request: HttpRequest, tab: str) -> dict[str, Any]:
    return {
        "tab": tab,
        "tabs": selectors.INBOX_TABS,
        "conversations": selectors.inbox(request.user, tab)[:100],
        "counts": selectors.inbox_counts(request.user),
        "queue_age": selectors.queue_age_seconds(request.user),
    }


@agent_required
@require_GET
def inbox_page(request: HttpRequest) -> HttpResponse:
    context = _inbox_context(request, _tab(request))
    context["profile"] = AgentProfile.objects.filter(user_id=request.user.pk or 0).first()
    return render(request, "console/inbox.html", context)


@agent_required
@require_GET
def inbox_partial(request: HttpRequest) -> HttpResponse:
    return render(request, "console/inbox.html#inbox", _inbox_context(request, _tab(request)))


def _side_context(request: HttpRequest, conversation: Conversation) -> dict[str, Any]:
    from summarize.models import Summary

    return {
        "conversation": conversation,
        "summary": Summary.objects.filter(conversation=conversation)
        .order_by("-created_at")
        .first(),
        "events": handoff.state_history(conversation),
        "notes": selectors.notes(conversation),
        "agents": selectors.site_agents(conversation.site),
        "language": visitor_language(conversation),
        "is_agent_here": handoff.agent_may_answer(request.user, conversation.site),
    }


@agent_required
@require_GET
def conversation_page(request: HttpRequest, conversation_id: object) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    context = _side_context(request, conversation)
    context["messages"] = message_list(conversation).select_related("author")
    return render(request, "console/conversation.html", context)


@agent_required
@require_GET
def side_partial(request: HttpRequest, conversation_id: object) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    return render(request, "console/conversation.html#side", _side_context(request, conversation))


@agent_required
@require_POST
def conversation_action(request: HttpRequest, conversation_id: object, action: str) -> HttpResponse:
    """take, assign (agent=<user id>), resolve, hand_back: the side panel, changed."""
    conversation = _conversation(request, conversation_id)
    try:
        if action == "take":
            handoff.conversation_assign(conversation=conversation, agent=request.user,
                                        by=request.user, reason="taken")  # fmt: skip
        elif action == "assign":
            agent = get_user_model().objects.filter(id=request.POST.get("agent") or 0).first()
            if agent is None:
                raise ValidationError("No such agent.", code="not_agent")
            handoff.conversation_assign(conversation=conversation, agent=agent, by=request.user)
        elif action == "resolve":
            handoff.conversation_resolve(conversation=conversation, by=request.user)
        elif action == "hand_back":
            handoff.conversation_hand_back(conversation=conversation, by=request.user)
        else:
            raise Http404("No such action.")
    except ValidationError as exc:
        return HttpResponse(" ".join(exc.messages), status=400)
    conversation.refresh_from_db()
    return render(request, "console/conversation.html#side", _side_context(request, conversation))


@agent_required
@require_POST
def note_create(request: HttpRequest, conversation_id: object) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    try:
        services.note_add(
            conversation=conversation, author=request.user, text=request.POST.get("text", "")
        )
    except ValidationError as exc:
        return HttpResponse(" ".join(exc.messages), status=400)
    return render(request, "console/conversation.html#side", _side_context(request, conversation))


@agent_required
@require_GET
def canned_partial(request: HttpRequest, conversation_id: object) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    found = selectors.canned_search(conversation, request.GET.get("q", ""))
    return render(request, "console/conversation.html#canned", {"canned": found})


@agent_required
@require_POST
def suggestion_create(request: HttpRequest, conversation_id: object) -> JsonResponse:
    """A drafted reply, streamed over its job socket into the reply box."""
    conversation = _conversation(request, conversation_id)
    generation = services.reply_suggest(conversation=conversation)
    return JsonResponse({"generation_id": str(generation.id), "ws_url": job_ws_path(generation.id)})


@agent_required
@require_POST
def presence_set(request: HttpRequest) -> HttpResponse:
    presence = request.POST.get("presence", "")
    if presence not in AgentProfile.Presence.values:
        return HttpResponse("Presence is online or away.", status=400)
    handoff.agent_seen(user=request.user, presence=presence)
    return HttpResponse(presence)
