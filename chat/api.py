"""JSON API for embedding clients: create a conversation, read its messages."""

import json
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from chat.events import message_created
from chat.models import Conversation
from chat.selectors import conversation_access, conversation_latest, message_list
from chat.services import conversation_create, socket_open_frames
from chat.tokens import conversation_token_issue, conversation_token_read
from sites.access import conversation_opener, cross_origin
from sites.limits import LimitReached, conversation_open_spend
from webapp.http import bearer_token, json_error

MAX_BODY_BYTES = 16_384


@csrf_exempt
@cross_origin
@require_http_methods(["POST", "OPTIONS"])
def conversation_create_api(request: HttpRequest) -> JsonResponse:
    """POST /api/v1/conversations {"title"?, "page"? (the visitor's page), "site"?,
    "public_key"?, "user_id"?, "user_hash"?, "resume"?} -> 201 {"id", "token", "ws_url"};
    who may is sites.access's to say. A verified visitor with "resume" gets their latest
    conversation back (200)."""
    if len(request.body) > MAX_BODY_BYTES:
        return json_error(413, "body_too_large", f"The body is limited to {MAX_BODY_BYTES} bytes.")
    try:
        body: Any = json.loads(request.body or b"{}")
    except ValueError:
        return json_error(400, "invalid_json", "The body must be a JSON object.")
    if not isinstance(body, dict):
        return json_error(400, "invalid_json", "The body must be a JSON object.")
    title, page = body.get("title", ""), body.get("page", "")
    if not isinstance(title, str) or not isinstance(page, str):
        return json_error(400, "invalid_field", "'title' and 'page' must be strings.")
    opener = conversation_opener(request, body)
    if isinstance(opener, JsonResponse):
        return opener
    if not opener.trusted:
        try:
            conversation_open_spend(request)
        except LimitReached as exc:
            response = json_error(429, exc.code, exc.detail)
            response["Retry-After"] = str(exc.retry_after)
            return response
    if opener.visitor_id and body.get("resume"):  # a verified visitor, on another device
        latest = conversation_latest(site=opener.site, visitor_id=opener.visitor_id)
        if latest is not None:
            return _opened(latest, status=200)
    conversation = conversation_create(
        site=opener.site, owner=opener.owner, title=title, visitor_id=opener.visitor_id,
        page_url=page,
    )  # fmt: skip
    return _opened(conversation, status=201)


def _opened(conversation: Conversation, *, status: int) -> JsonResponse:
    """A conversation and a new visitor token for it: {"id", "token", "ws_url"}."""
    token = conversation_token_issue(conversation.id)
    return JsonResponse(
        {"id": str(conversation.id), "token": token, "ws_url": ws_path(conversation, token)},
        status=status,
    )


def ws_path(conversation: Conversation, token: str) -> str:
    return f"/ws/conversations/{conversation.id}/?token={token}"


@cross_origin
@require_http_methods(["GET", "OPTIONS"])
def message_list_api(request: HttpRequest, conversation_id: str) -> JsonResponse:
    """GET /api/v1/conversations/<id>/messages with Authorization: Bearer <token>."""
    token = bearer_token(request)
    if not token or conversation_token_read(token) is None:
        return json_error(401, "unauthorized", "A valid conversation token is required.")
    conversation = conversation_access(conversation_id=conversation_id, token=token)
    if conversation is None:
        return json_error(404, "not_found", "No such conversation for this token.")
    messages = [
        message_created(m)["message"]
        for m in message_list(conversation)
        if m.role != "agent" or m.status == "done"  # an agent's reply shows once translated
    ]
    state: dict[str, Any] = {"state": conversation.state}
    for frames in socket_open_frames:  # the handoff's state (queue place, agent)
        if (frame := frames(conversation)) is not None:
            state = {k: v for k, v in frame.items() if k != "type"}
    return JsonResponse({"messages": messages, "handoff": state})
