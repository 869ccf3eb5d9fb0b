"""Writes: summaries of text, files and conversations, queued as generations."""

import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chat import streams
from chat.models import Conversation, Generation
from chat.services import generation_cancel, generation_schedule
from knowledge.extract import DocumentUnreadable, document_text_extract
from sites.models import Site
from summarize.extractive import dialogue_summary, extractive_summary, language_of
from summarize.models import Summary

LANGUAGES = ("en", "zh")


class SummaryInputError(Exception):
    """Input a summary cannot be made of; `status` is the HTTP status to answer with."""

    def __init__(self, code: str, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.code, self.detail, self.status = code, detail, status


def summary_options_clean(
    *, length: Any = None, language: Any = None, kind: Any = None, method: Any = None,
    structured: Any = None,
) -> dict[str, Any]:  # fmt: skip
    """Validated options with their defaults; SummaryInputError names the bad one."""
    choices = {
        "length": (length, Summary.Length.values, Summary.Length.SHORT),
        "kind": (kind, Summary.Kind.values, Summary.Kind.DOCUMENT),
        "method": (method, Summary.Method.values, Summary.Method.MODEL),
        "language": (language, ["", *LANGUAGES], ""),
    }
    clean: dict[str, Any] = {}
    for name, (value, allowed, default) in choices.items():
        if value is None or value == "":
            clean[name] = default
        elif value in allowed:
            clean[name] = value
        else:
            shown = ", ".join(v for v in allowed if v)
            raise SummaryInputError("invalid_field", f"'{name}' must be one of: {shown}.")
    if structured not in (None, True, False, "true", "false", "1", "0", "on", ""):
        raise SummaryInputError("invalid_field", "'structured' must be true or false.")
    clean["structured"] = structured in (True, "true", "1", "on")
    return clean


def summary_text_clean(text: Any) -> str:
    if not isinstance(text, str):
        raise SummaryInputError("invalid_field", "'text' must be a string.")
    text = text.strip()
    if not text:
        raise SummaryInputError("empty_text", "There is no text to summarize.")
    if len(text.encode()) > settings.SUMMARY_MAX_BYTES:
        raise SummaryInputError(
            "text_too_large",
            f"The text is limited to {settings.SUMMARY_MAX_BYTES} bytes.",
            status=413,
        )
    return text


def summary_create(
    *,
    site: Site,
    text: str,
    length: str = Summary.Length.SHORT,
    language: str = "",
    kind: str = Summary.Kind.DOCUMENT,
    structured: bool = False,
    method: str = Summary.Method.MODEL,
    owner: Any = None,
    conversation: Conversation | None = None,
    title: str = "",
) -> Summary:
    """Store a summary request and queue it; an extractive one is made at once."""
    text = summary_text_clean(text)
    language = language or language_of(text)
    now = timezone.now()
    ready = ""
    if method == Summary.Method.EXTRACTIVE:
        ready = summary_extractive(text, kind=kind, length=length)
    status = Summary.Status.DONE if ready else Summary.Status.QUEUED
    with transaction.atomic():
        generation = Generation.objects.create(
            kind="summary",
            status=status,
            **({"started_at": now, "first_token_at": now, "done_at": now} if ready else {}),
        )
        summary = Summary.objects.create(
            site=site,
            owner=owner if owner is not None and owner.is_authenticated else None,
            conversation=conversation,
            generation=generation,
            kind=kind,
            length=length,
            structured=structured and kind == Summary.Kind.DIALOGUE,
            language=language,
            title=title[:200],
            source_text=text,
            text=ready,
            method=Summary.Method.EXTRACTIVE if ready else "",
            status=status,
        )
        if ready:
            transaction.on_commit(lambda: _stream_ready(generation.id, ready), robust=True)
        else:
            transaction.on_commit(
                lambda: generation_schedule(generation.id, "summary"), robust=True
            )
    return summary


def _stream_ready(generation_id: uuid.UUID, text: str) -> None:
    stream = streams.StreamWriter(generation_id)
    stream.delta(text)
    stream.done(Generation.Status.DONE, {}, extra={"method": Summary.Method.EXTRACTIVE})


def summary_from_file(*, site: Site, name: str, data: bytes, content_type: str = "",
                      **options: Any) -> Summary:  # fmt: skip
    """Summarize a txt, md, html, pdf or docx file (the knowledge base's readers)."""
    if len(data) > settings.SUMMARY_MAX_BYTES:
        raise SummaryInputError(
            "file_too_large", f"Files are limited to {settings.SUMMARY_MAX_BYTES} bytes.", 413
        )
    try:
        text = document_text_extract(name=name, data=data, content_type=content_type)
    except DocumentUnreadable as exc:
        raise SummaryInputError("unreadable_file", str(exc)) from exc
    return summary_create(site=site, text=text, title=name, **options)


def summary_extractive(text: str, *, kind: str, length: str) -> str:
    """The extractive summary of a text: its most central sentences (or turns)."""
    count = {"one_line": 1, "short": 3, "bullets": 5}.get(length, 3)
    if kind == Summary.Kind.DIALOGUE:
        summary = dialogue_summary(text.splitlines(), max_sentences=count)
    else:
        summary = extractive_summary(text, max_sentences=count)
    if length == Summary.Length.BULLETS:
        lines = summary.splitlines() if kind == Summary.Kind.DIALOGUE else _sentences(summary)
        return "\n".join(f"- {line}" for line in lines)
    return summary


def _sentences(text: str) -> list[str]:
    from summarize.extractive import sentences_split

    return sentences_split(text)


def conversation_transcript(conversation: Conversation) -> str:
    """The conversation as a dialogue, one "Speaker: text" turn a line."""
    names: dict[str, str] = {"user": "Customer", "assistant": "Assistant"}
    turns = []
    for role, text in conversation.messages.exclude(text="").values_list("role", "text"):
        turns.append(f"{names.get(role, role.title())}: {' '.join(text.split())}")
    return "\n".join(turns)


def conversation_summarize(*, conversation: Conversation, owner: Any = None) -> Summary:
    """A structured summary of the conversation (request, what was tried, outcome, next
    steps), in its language, kept on the conversation. Called by the "Summarize" actions,
    and by the handoff when a conversation is handed to a person or resolved."""
    transcript = conversation_transcript(conversation)
    if not transcript:
        raise SummaryInputError("empty_conversation", "The conversation has no messages yet.")
    return summary_create(
        site=conversation.site,
        text=transcript,
        kind=Summary.Kind.DIALOGUE,
        structured=True,
        owner=owner,
        conversation=conversation,
        title=conversation.title or str(conversation),
    )


def summary_cancel(*, summary: Summary) -> None:
    """Stop it: a queued one (also between map steps) at once, a streaming one in the worker."""
    if summary.generation is not None:
        generation_cancel(generation=summary.generation)
