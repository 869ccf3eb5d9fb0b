"""The chat page: server-rendered, htmx for navigation, a small script for the socket."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from chat.models import Conversation
from chat.selectors import conversation_access, conversation_list_for_user, message_list
from chat.services import conversation_create
from sites.services import site_default_ensure


def page_texts() -> dict[str, str]:
    """What chat.js writes, in the page's language ({n}: a number it fills in)."""
    return {
        "you": _("You"),
        "agent": _("Agent"),
        "assistant": _("Assistant"),
        "waiting": _("Waiting for the assistant: {n} ahead of you…"),
        "starting": _("Starting…"),
        "refused": _("This conversation can't be opened here. Please reload the page."),
        "reconnecting": _("Connection lost. Reconnecting…"),
        "too_long": _("Messages are limited to {n} characters."),
        "offline": _("Not connected: your message will be sent when the connection is back."),
        "summary_failed": _("The summary could not be started."),
        # the handoff to a person ({name}: the agent's; {email}: the visitor's)
        "talk": _("Talk to a person"),
        "connecting": _("Connecting you to a person…"),
        "queue": _("Connecting you to a person… You are number {n} in the queue."),
        "nobody_online": _(
            "No one from our team is available right now. "
            "Leave your email and we'll reply as soon as we can."
        ),
        "email_thanks": _("Thanks. We'll reply to {email} as soon as we can."),
        "joined": _("{name} joined the conversation."),
        "typing": _("{name} is typing…"),
        "thanks": _("Thanks for your feedback."),
    }


def _owned(request: HttpRequest, conversation_id: object) -> Conversation:
    conversation = conversation_access(conversation_id=str(conversation_id), user=request.user)
    if conversation is None:
        raise Http404("No such conversation.")
    return conversation


@login_required
@require_GET
def chat_home(request: HttpRequest) -> HttpResponse:
    latest = conversation_list_for_user(request.user).first()
    if latest is not None:
        return redirect("chat:conversation", conversation_id=latest.id)
    return render(request, "chat/page.html", {"conversations": [], "conversation": None})


@login_required
@require_POST
def conversation_new(request: HttpRequest) -> HttpResponse:
    conversation = conversation_create(site=site_default_ensure(), owner=request.user)
    return redirect("chat:conversation", conversation_id=conversation.id)


@login_required
@require_GET
def conversation_page(request: HttpRequest, conversation_id: object) -> HttpResponse:
    conversation = _owned(request, conversation_id)
    context = {
        "conversations": conversation_list_for_user(request.user)[:50],
        "conversation": conversation,
        "messages": message_list(conversation),
        "texts": page_texts(),
    }
    return render(request, "chat/page.html", context)


@login_required
@require_GET
def message_partial(request: HttpRequest, conversation_id: object, message_id: int) -> HttpResponse:
    """One rendered message, swapped in by htmx when its answer is complete."""
    conversation = _owned(request, conversation_id)
    message = message_list(conversation).filter(id=message_id).first()
    if message is None:
        raise Http404("No such message.")
    return render(
        request, "chat/page.html#message", {"message": message, "conversation": conversation}
    )
