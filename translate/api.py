"""JSON API of translations, for staff sessions and server-to-server site keys (Bearer)."""

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from chat.jobs import job_fields, job_read, job_response, job_stop
from sites.access import request_site, session_csrf_ok
from translate.models import Translation
from translate.selectors import translation_get
from translate.services import (
    TranslationInputError,
    translation_create,
    translation_from_file,
)
from webapp.http import json_error

DOWNLOADS = {"text": "txt", "markdown": "md", "html": "html"}


def translation_json(translation: Translation, *, with_socket: bool = False) -> dict[str, Any]:
    return {
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
        **job_fields(translation.generation, with_socket=with_socket),
    }


def _accepted(translation: Translation) -> JsonResponse:
    return job_response(translation_json(translation, with_socket=True), status=202)


def _translation(translation_id: str, site: Any) -> Translation | None:
    return translation_get(translation_id=translation_id, site=site)


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
    return job_read(
        request, translation_id, get=_translation, serialize=translation_json,
        action="read translations",
    )  # fmt: skip


@csrf_exempt
@require_POST
def translation_cancel_api(request: HttpRequest, translation_id: str) -> JsonResponse:
    """POST /api/v1/translations/<id>/cancel: Stop."""
    return job_stop(
        request, translation_id, get=_translation, serialize=translation_json,
        action="stop translations",
    )  # fmt: skip
