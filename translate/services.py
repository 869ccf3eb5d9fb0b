"""Writes: translations of text and files, queued as generations."""

from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.db import transaction

from chat.models import Generation
from chat.services import generation_cancel, generation_schedule
from knowledge.extract import DocumentUnreadable, document_text_extract
from sites.models import Site
from translate.glossary import glossary_validate
from translate.languages import LANGUAGES, language_detect
from translate.models import Translation
from translate.structure import FORMATS, docx_source, format_guess


class TranslationInputError(Exception):
    """Input a translation cannot be made of; `status` is the HTTP status to answer with."""

    def __init__(self, code: str, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.code, self.detail, self.status = code, detail, status


def _language(value: Any, name: str, *, required: bool) -> str:
    if value in (None, "") and not required:
        return ""
    if not isinstance(value, str) or value not in LANGUAGES:
        shown = ", ".join(LANGUAGES)
        raise TranslationInputError("unsupported_language", f"'{name}' must be one of: {shown}.")
    return value


def translation_create(
    *,
    site: Site,
    text: Any,
    target_lang: Any,
    source_lang: Any = "",
    glossary: Any = None,
    format: Any = "",
    owner: Any = None,
    title: str = "",
    source_file: bytes = b"",
) -> Translation:
    """Validate, detect the source language (unless given), store and queue. `source_file`:
    the Word file `text` was read from (format docx), to write the translation back into."""
    if not isinstance(text, str):
        raise TranslationInputError("invalid_field", "'text' must be a string.")
    text = text.strip()
    if not text:
        raise TranslationInputError("empty_text", "There is no text to translate.")
    if len(text.encode()) > settings.TRANSLATION_MAX_BYTES:
        raise TranslationInputError(
            "text_too_large", f"The text is limited to {settings.TRANSLATION_MAX_BYTES} bytes.", 413
        )
    target = _language(target_lang, "target_lang", required=True)
    source = _language(source_lang, "source_lang", required=False)
    detected = language_detect(text).language
    source = source or detected
    if source == target:
        raise TranslationInputError(
            "same_language", f"The text is already in {LANGUAGES[target].name}."
        )
    if format not in ("", *FORMATS) or (format == "docx") != bool(source_file):
        shown = ", ".join(f for f in FORMATS if f != "docx")
        raise TranslationInputError(
            "invalid_field", f"'format' must be one of: {shown} (a .docx comes as a file)."
        )
    try:
        terms = glossary_validate(glossary)
    except ValueError as exc:
        raise TranslationInputError("invalid_glossary", str(exc)) from exc
    with transaction.atomic():
        generation = Generation.objects.create(kind="translation")
        translation = Translation.objects.create(
            site=site,
            owner=owner if owner is not None and owner.is_authenticated else None,
            generation=generation,
            source_lang=source,
            detected_lang=detected,
            target_lang=target,
            format=format or format_guess(title, text),
            title=title[:200],
            source_text=text,
            source_file=source_file,
            glossary=terms,
        )
        transaction.on_commit(
            lambda: generation_schedule(generation.id, "translation"), robust=True
        )
    return translation


def translation_from_file(*, site: Site, name: str, data: bytes, content_type: str = "",
                          **options: Any) -> Translation:  # fmt: skip
    """Translate a txt, md, html or docx file in its own format (the markup is kept, a Word
    file is written back with its styles); a pdf is read as text (the knowledge base's
    reader) and translated as Markdown."""
    if len(data) > settings.TRANSLATION_MAX_BYTES:
        raise TranslationInputError(
            "file_too_large", f"Files are limited to {settings.TRANSLATION_MAX_BYTES} bytes.", 413
        )
    suffix = PurePath(name).suffix.lower()
    if suffix in (".txt", ".md", ".markdown", ".html", ".htm"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise TranslationInputError("unreadable_file", "The file is not UTF-8 text.") from exc
        return translation_create(site=site, text=text, title=name, **options)
    if suffix == ".docx":
        try:
            text = docx_source(data)
        except ValueError as exc:
            raise TranslationInputError("unreadable_file", str(exc)) from exc
        options["format"] = "docx"
        return translation_create(site=site, text=text, title=name, source_file=data, **options)
    try:
        text = document_text_extract(name=name, data=data, content_type=content_type)
    except DocumentUnreadable as exc:
        raise TranslationInputError("unreadable_file", str(exc)) from exc
    options.setdefault("format", "markdown")
    return translation_create(site=site, text=text, title=name, **options)


def translation_cancel(*, translation: Translation) -> None:
    if translation.generation is not None:
        generation_cancel(generation=translation.generation)
