"""What the job APIs (summaries, translations) share: a job's progress and socket, and the
read and cancel views, each scoped by the one access check (sites.access)."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, JsonResponse

from chat.models import Generation
from chat.services import generation_cancel
from chat.tokens import job_ws_path
from sites.access import request_is_staff, request_site, session_csrf_ok
from sites.models import Site
from webapp.http import json_error


def job_fields(generation: Generation | None, *, with_socket: bool) -> dict[str, Any]:
    """A job's progress, and (for its owner) the socket that streams it."""
    data: dict[str, Any] = {
        "progress": {
            "done": generation.progress_done if generation else 0,
            "total": generation.progress_total if generation else 0,
        }
    }
    if with_socket and generation is not None:
        data["generation_id"] = str(generation.id)
        data["ws_url"] = job_ws_path(generation.id)
    return data


def job_response(data: dict[str, Any], status: int = 200) -> JsonResponse:
    return JsonResponse(data, status=status, json_dumps_params={"ensure_ascii": False})


Getter = Callable[[str, Site | None], Any]  # (id, site or None for staff) -> the job or None
Serializer = Callable[..., dict[str, Any]]


def job_find(request: HttpRequest, job_id: str, *, get: Getter, action: str) -> Any:
    """A job of the caller's site (any site for staff), or the JSON error to answer."""
    site = request_site(request, "", action)
    if isinstance(site, JsonResponse):
        return site
    job = get(job_id, None if request_is_staff(request) else site)
    if job is None:
        return json_error(404, "not_found", "No such job.")
    return job


def job_read(request: HttpRequest, job_id: str, *, get: Getter, serialize: Serializer,
             action: str) -> JsonResponse:  # fmt: skip
    """GET a job of the caller's site (any site for staff)."""
    job = job_find(request, job_id, get=get, action=action)
    if isinstance(job, JsonResponse):
        return job
    return job_response(serialize(job, with_socket=True))


def job_stop(request: HttpRequest, job_id: str, *, get: Getter, serialize: Serializer,
             action: str) -> JsonResponse:  # fmt: skip
    """POST cancel: Stop a queued or streaming job (its remaining steps do nothing)."""
    if not session_csrf_ok(request):
        site = request_site(request, "", action)
        if isinstance(site, JsonResponse):
            return site
        return json_error(403, "csrf_failed", "Send the CSRF token with a session request.")
    job = job_find(request, job_id, get=get, action=action)
    if isinstance(job, JsonResponse):
        return job
    if job.generation is not None:
        generation_cancel(generation=job.generation)
    job.refresh_from_db()
    return job_response(serialize(job), status=202)


@dataclass
class JobRequest:
    """A job API's POST, authorized and read: its site, its fields, and a file if any."""

    site: Site
    fields: dict[str, Any]
    upload: UploadedFile | None
    form: bool  # multipart (a form's fields are strings, absent ones blank)


def job_request(request: HttpRequest, *, action: str, max_bytes: int) -> JobRequest | JsonResponse:
    """The credential, the CSRF token of a session, and the body (multipart or a JSON
    object); a body over Django's limit gets the API's 413, never Django's own page."""
    site = request_site(request, request.GET.get("site", ""), action)
    if isinstance(site, JsonResponse):
        return site
    if not session_csrf_ok(request):
        return json_error(403, "csrf_failed", "Send the CSRF token with a session request.")
    try:
        if request.content_type == "multipart/form-data":
            return JobRequest(site, request.POST.dict(), request.FILES.get("file"), form=True)
        try:
            body: Any = json.loads(request.body or b"{}")
        except ValueError:
            return json_error(400, "invalid_json", "The body must be a JSON object.")
    except RequestDataTooBig:
        return json_error(413, "body_too_large", f"The body is limited to {max_bytes} bytes.")
    if not isinstance(body, dict):
        return json_error(400, "invalid_json", "The body must be a JSON object.")
    return JobRequest(site, body, None, form=False)
