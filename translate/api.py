"""JSON API of translations, for staff sessions and server-to-server site keys (Bearer)."""

import json
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from chat.jobs import job_fields, job_find, job_read, job_request, job_response, job_stop
from translate.models import Translation
from translate.selectors import translation_get
from translate.services import (
    TranslationInputError,
    translation_create,
    translation_from_file,
)
from translate.structure import docx_rebuild
from webapp.http import json_error

DOWNLOADS = {"text": "txt", "markdown": "md", "html": "html", "docx": "docx"}
CONTENT_TYPES = {
    "txt": "text/plain; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def translation_json(translation: Translation, *, with_socket: bool = False) -> dict[str, Any]:
    return {
        "id": str(translation.id),
        "status": translation.status,
        "source_lang": translation.source_lang,
        "detected_lang": translation.detected_lang,
        "target_lang": translation.target_lang,
        "format": translation.format,
        "download": DOWNLOADS.get(translation.format, "txt"),
        "file_url": reverse("api-translation-file", args=[translation.id]),
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
    got = job_request(request, action="translate", max_bytes=settings.TRANSLATION_MAX_BYTES)
    if isinstance(got, JsonResponse):
        return got
    fields = got.fields
    try:
        glossary = fields.get("glossary")
        if got.form:  # a form sends the glossary as JSON text
            glossary = json.loads(glossary) if glossary else None
        options: dict[str, Any] = {
            "target_lang": fields.get("target_lang", "" if got.form else None),
            "source_lang": fields.get("source_lang", ""),
            "format": fields.get("format", ""),
            "glossary": glossary,
            "owner": request.user,
        }
        if got.upload is not None:
            translation = translation_from_file(
                site=got.site, name=got.upload.name or "upload", data=got.upload.read(),
                content_type=got.upload.content_type or "", **options,
            )  # fmt: skip
        else:
            text = fields.get("text", "" if got.form else None)
            translation = translation_create(site=got.site, text=text, **options)
        return _accepted(translation)
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


@require_GET
def translation_file_api(request: HttpRequest, translation_id: str) -> HttpResponse:
    """GET /api/v1/translations/<id>/file: the translation in its source's format (a Word
    file written back with its own styles), as an attachment."""
    translation = job_find(request, translation_id, get=_translation, action="read translations")
    if isinstance(translation, JsonResponse):
        return translation
    if translation.status != Translation.Status.DONE:
        return json_error(409, "not_done", "The translation is not finished yet.")
    extension = DOWNLOADS.get(translation.format, "txt")
    if translation.format == Translation.Format.DOCX:
        body: bytes = docx_rebuild(bytes(translation.source_file), translation.text)
    else:
        body = translation.text.encode()
    stem = (translation.title.rsplit(".", 1)[0] if translation.title else "translation")[:80]
    response = HttpResponse(body, content_type=CONTENT_TYPES[extension])
    name = f"{stem}.{translation.target_lang}.{extension}"
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
    return response
