"""JSON API of summaries, for staff sessions and server-to-server site keys (Bearer)."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from chat.jobs import job_fields, job_read, job_request, job_response, job_stop
from chat.models import Conversation
from sites.access import request_is_staff, request_site, session_csrf_ok
from summarize.models import Summary
from summarize.selectors import summary_get
from summarize.services import (
    SummaryInputError,
    conversation_summarize,
    summary_create,
    summary_from_file,
    summary_options_clean,
)
from webapp.http import json_error


def summary_json(summary: Summary, *, with_socket: bool = False) -> dict[str, Any]:
    return {
        "id": str(summary.id),
        "status": summary.status,
        "summary": summary.text,
        "method": summary.method,
        "kind": summary.kind,
        "length": summary.length,
        "language": summary.language,
        "title": summary.title,
        "created_at": summary.created_at.isoformat(),
        **job_fields(summary.generation, with_socket=with_socket),
    }


def _accepted(summary: Summary) -> JsonResponse:
    return job_response(summary_json(summary, with_socket=True), status=202)


@csrf_exempt
@require_POST
def summary_create_api(request: HttpRequest) -> JsonResponse:
    """POST /api/v1/summaries: JSON {"text", "length"?, "language"?, "kind"?, "structured"?,
    "method"?} or multipart with `file` -> 202 {"id", "status", "ws_url", ...}."""
    got = job_request(request, action="summarize", max_bytes=settings.SUMMARY_MAX_BYTES)
    if isinstance(got, JsonResponse):
        return got
    owner = request.user
    try:
        options = summary_options_clean(**_fields(got.fields))
        if got.upload is not None:
            summary = summary_from_file(
                site=got.site, name=got.upload.name or "upload", data=got.upload.read(),
                content_type=got.upload.content_type or "", owner=owner, **options,
            )  # fmt: skip
            return _accepted(summary)
        text = got.fields.get("text", "" if got.form else None)
        if not isinstance(text, str):
            return json_error(400, "invalid_field", "'text' must be a string.")
        return _accepted(summary_create(site=got.site, text=text, owner=owner, **options))
    except SummaryInputError as exc:
        return json_error(exc.status, exc.code, exc.detail)


def _summary(summary_id: str, site: Any) -> Summary | None:
    return summary_get(summary_id=summary_id, site=site)


def _fields(source: Any) -> dict[str, Any]:
    names = ("length", "language", "kind", "method", "structured")
    return {name: source.get(name) for name in names}


@require_GET
def summary_detail_api(request: HttpRequest, summary_id: str) -> JsonResponse:
    """GET /api/v1/summaries/<id> -> {"id", "status", "summary", "method", "progress"}."""
    return job_read(
        request, summary_id, get=_summary, serialize=summary_json, action="read summaries"
    )


@csrf_exempt
@require_POST
def summary_cancel_api(request: HttpRequest, summary_id: str) -> JsonResponse:
    """POST /api/v1/summaries/<id>/cancel: Stop (a queued or streaming summary)."""
    return job_stop(
        request, summary_id, get=_summary, serialize=summary_json, action="stop summaries"
    )


@csrf_exempt
@require_POST
def conversation_summary_api(request: HttpRequest, conversation_id: str) -> JsonResponse:
    """POST /api/v1/conversations/<id>/summary -> 202, the shape of POST /summaries."""
    site = request_site(request, "", "summarize conversations")
    if isinstance(site, JsonResponse):
        return site
    if not session_csrf_ok(request):
        return json_error(403, "csrf_failed", "Send the CSRF token with a session request.")
    conversations = Conversation.objects.select_related("site")
    if not request_is_staff(request):
        conversations = conversations.filter(site=site)
    conversation = conversations.filter(id=conversation_id).first()
    if conversation is None:
        return json_error(404, "not_found", "No such conversation.")
    try:
        summary = conversation_summarize(conversation=conversation, owner=request.user)
    except SummaryInputError as exc:
        return json_error(exc.status, exc.code, exc.detail)
    return _accepted(summary)
