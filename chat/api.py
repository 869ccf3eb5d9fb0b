"""JSON API for embedding clients: create a conversation, read its messages."""

import json
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from chat.models import Conversation
from chat.selectors import conversation_access, message_list
from chat.services import conversation_create
from chat.tokens import conversation_token_issue, conversation_token_read
from sites.selectors import site_get_by_slug
from sites.services import site_default_ensure
from webapp.http import bearer_token, json_error

MAX_BODY_BYTES = 16_384


@csrf_exempt
@require_POST
def conversation_create_api(request: HttpRequest) -> JsonResponse:
    """POST /api/v1/conversations {"title"?, "site"?} -> 201 {"id", "token", "ws_url"}."""
    if len(request.body) > MAX_BODY_BYTES:
        return json_error(413, "body_too_large", f"The body is limited to {MAX_BODY_BYTES} bytes.")
    try:
        body: Any = json.loads(request.body or b"{}")
    except ValueError:
        return json_error(400, "invalid_json", "The body must be a JSON object.")
    if not isinstance(body, dict):
        return json_error(400, "invalid_json", "The body must be a JSON object.")
    title = body.get("title", "")
    if not isinstance(title, str):
        return json_error(400, "invalid_field", "'title' must be a string.")
    site = site_default_ensure()
    if "site" in body:
        found = site_get_by_slug(str(body["site"]))
        if found is None:
            return json_error(404, "unknown_site", "No such site.")
        site = found
    owner = request.user if request.user.is_authenticated else None
    conversation = conversation_create(site=site, owner=owner, title=title)
    token = conversation_token_issue(conversation.id)
    return JsonResponse(
        {"id": str(conversation.id), "token": token, "ws_url": ws_path(conversation, token)},
        status=201,
    )


def ws_path(conversation: Conversation, token: str) -> str:
    return f"/ws/conversations/{conversation.id}/?token={token}"


@require_GET
def message_list_api(request: HttpRequest, conversation_id: str) -> JsonResponse:
    """GET /api/v1/conversations/<id>/messages with Authorization: Bearer <token>."""
    token = bearer_token(request)
    if not token or conversation_token_read(token) is None:
        return json_error(401, "unauthorized", "A valid conversation token is required.")
    conversation = conversation_access(conversation_id=conversation_id, token=token)
    if conversation is None:
        return json_error(404, "not_found", "No such conversation for this token.")
    messages = [
        {
            "id": m.id,
            "role": m.role,
            "text": m.text,
            "status": m.status,
            "created_at": m.created_at.isoformat(),
            "route": m.route,
            "sources": m.sources,
        }
        for m in message_list(conversation)
    ]
    return JsonResponse({"messages": messages})
