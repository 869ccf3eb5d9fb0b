"""JSON API of translations, for staff sessions and server-to-server site keys (Bearer)."""

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from chat.tokens import job_ws_path
from sites.access import request_is_staff, request_site, session_csrf_ok
from translate.models import Translation
from translate.selectors import translation_get
from translate.services import (
    TranslationInputError,
    translation_cancel,
    translation_create,
    translation_from_file,
)
from webapp.http import json_error

DOWNLOADS = {"text": "txt", "markdown": "md", "html": "html"}


def translation_json(translation: Translation, *, with_socket: bool = False) -> dict[str, Any]:
    generation = translation.generation
    data: dict[str, Any] = {
        "id": str(translation.id),
        "status": translation.status,
        "source_lang": translation.source_lang,
        "detected_lang": translation.detected_lang,
        "target_lang": translation.target_lang,
        "format": translation.format,
        "download": DOWNLOADS.get(translation.format, "txt"),
        "title": translation.title,
        "translation": translation.text,
        "glossary_misses": translation.glossary_misses,
        "created_at": translation.created_at.isoformat(),
        "progress": {
            "done": generation.progress_done if generation else 0,
            "total": generation.progress_total if generation else 0,
        },
    }
    if with_socket and generation is not None:
        data["generation_id"] = str(generation.id)
        data["ws_url"] = job_ws_path(generation.id)
    return data


def _accepted(translation: Translation) -> JsonResponse:
    return JsonResponse(
        translation_json(translation, with_socket=True),
        status=202,
        json_dumps_params={"ensure_ascii": False},
    )


@csrf_exempt
@require_POST
def translation_create_api(request: HttpRequest) -> JsonResponse:
    """POST /api/v1/translations: JSON {"text", "target_lang", "source_lang"?, "glossary"?,
    "format"?} or multipart with `file` -> 202 {"id", "status", "ws_url", ...}."""
    try:
        site = request_site(request, request.GET.get("site", ""), "translate")
        if isinstance(site, JsonResponse):
            return site
        if not session_csrf_ok(request):
            return json_error(403, "csrf_failed", "Send the CSRF token with a session request.")
        if request.content_type == "multipart/form-data":
            fields: dict[str, Any] = {
                name: request.POST.get(name, "")
                for name in ("target_lang", "source_lang", "format")
            }
            raw_glossary = request.POST.get("glossary", "")
            fields["glossary"] = json.loads(raw_glossary) if raw_glossary else None
            upload = request.FILES.get("file")
            if upload is None:
                translation = translation_create(
                    site=site, text=request.POST.get("text", ""), owner=request.user, **fields
                )
            else:
                translation = translation_from_file(
                    site=site, name=upload.name or "upload", data=upload.read(),
                    content_type=upload.content_type or "", owner=request.user, **fields,
                )  # fmt: skip
            return _accepted(translation)
        try:
            body: Any = json.loads(request.body or b"{}")
        except ValueError:
            return json_error(400, "invalid_json", "The body must be a JSON object.")
        if not isinstance(body, dict):
            return json_error(400, "invalid_json", "The body must be a JSON object.")
        translation = translation_create(
            site=site,
            text=body.get("text"),
            target_lang=body.get("target_lang"),
            source_lang=body.get("source_lang", ""),
            glossary=body.get("glossary"),
            format=body.get("format", ""),
            owner=request.user,
        )
        return _accepted(translation)
    except RequestDataTooBig:
        limit = settings.TRANSLATION_MAX_BYTES
        return json_error(413, "body_too_large", f"The body is limited to {limit} bytes.")
    except json.JSONDecodeError:
        return json_error(400, "invalid_glossary", "'glossary' must be a JSON list.")
    except TranslationInputError as exc:
        return json_error(exc.status, exc.code, exc.detail)


@require_GET
def translation_detail_api(request: HttpRequest, translation_id: str) -> JsonResponse:
    """GET /api/v1/translations/<id> -> {"id", "status", "source_lang", "target_lang",
    "translation", "glossary_misses", ...}."""
    site = request_site(request, "", "read translations")
    if isinstance(site, JsonResponse):
        return site
    scope = None if request_is_staff(request) else site
    translation = translation_get(translation_id=translation_id, site=scope)
    if translation is None:
        return json_error(404, "not_found", "No such translation.")
    return JsonResponse(
        translation_json(translation, with_socket=True), json_dumps_params={"ensure_ascii": False}
    )


@csrf_exempt
@require_POST
def translation_cancel_api(request: HttpRequest, translation_id: str) -> JsonResponse:
    site = request_site(request, "", "stop translations")
    if isinstance(site, JsonResponse):
        return site
    if not session_csrf_ok(request):
        return json_error(403, "csrf_failed", "Send the CSRF token with a session request.")
    scope = None if request_is_staff(request) else site
    translation = translation_get(translation_id=translation_id, site=scope)
    if translation is None:
        return json_error(404, "not_found", "No such translation.")
    translation_cancel(translation=translation)
    translation.refresh_from_db()
    return JsonResponse(translation_json(translation), status=202)
