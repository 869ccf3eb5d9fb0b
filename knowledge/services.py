"""Writes to the knowledge base: FAQ entries (edit, import, export) and their embeddings.
The file formats of import and export are `knowledge.faq_files`'.

Every change tells the retrieval indexes on commit (`knowledge_changed`), and a change of
phrasings queues their embedding on the batch queue. `faq_embed` runs the embedding itself
(the task, the import command, evaluation and tests call it directly).
"""

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone

from knowledge.embeddings import embed, vector_to_bytes
from knowledge.faq_files import FAQ_COLUMNS, RowError
from knowledge.index import knowledge_changed
from knowledge.models import FaqEntry, FaqVector, Passage
from knowledge.text import answer_text, tokens_stored
from sites.models import Site

QUESTION_MAX_CHARS = 1000
ANSWER_MAX_CHARS = 20_000
LIST_MAX_ITEMS = 50
TAG_MAX_CHARS = 100
EMBED_CHUNK = 500
_LIST_SEPARATOR = re.compile(r"[|\n]")
_TRUE, _FALSE = {"true", "yes", "y", "1", "on"}, {"false", "no", "n", "0", "off"}


@dataclass(frozen=True)
class ImportReport:
    created: int
    updated: int
    unchanged: int
    errors: list[RowError]
    embed_ids: list[int] = field(default_factory=list)  # entries whose phrasings need vectors


# --- Single entries --------------------------------------------------------------------------


def faq_create(
    *,
    site: Site,
    question: str,
    answer: str,
    alt_questions: list[str] | None = None,
    tags: list[str] | None = None,
    language: str = "",
    external_id: str = "",
    enabled: bool = True,
) -> FaqEntry:
    """Store a new FAQ entry; its phrasings are embedded after commit."""
    faq = FaqEntry(
        site=site,
        question=_one_line(question),
        answer=answer.strip(),
        alt_questions=[_one_line(q) for q in alt_questions or [] if q.strip()],
        tags=[t.strip() for t in tags or [] if t.strip()],
        language=language.strip(),
        external_id=external_id.strip(),
        enabled=enabled,
    )
    faq.full_clean()
    faq.save()
    _faq_changed_on_commit(site.id, [faq.id], embed_needed=True)
    return faq


def faq_update(*, faq: FaqEntry, **changes: Any) -> FaqEntry:
    """Change fields of an entry (question, answer, alt_questions, tags, language,
    external_id, enabled); new phrasings or a new answer are embedded after commit."""
    unknown = set(changes) - {"external_id", *FAQ_COLUMNS[1:]}
    if unknown:
        raise TypeError(f"faq_update() got unknown fields: {', '.join(sorted(unknown))}")
    if isinstance(changes.get("question"), str):
        changes["question"] = _one_line(changes["question"])
    if isinstance(changes.get("alt_questions"), list):
        changes["alt_questions"] = [_one_line(q) for q in changes["alt_questions"] if q.strip()]
    before = faq_texts(faq)
    for name, value in changes.items():
        setattr(faq, name, value)
    faq.full_clean()
    faq.save()
    _faq_changed_on_commit(faq.site_id, [faq.id], embed_needed=faq_texts(faq) != before)
    return faq


def faq_delete(*, faq: FaqEntry) -> None:
    """Delete an entry and its vectors; the indexes drop it on commit."""
    site_id, faq_id = faq.site_id, faq.id
    faq.delete()
    _faq_changed_on_commit(site_id, [faq_id], embed_needed=False)


def faq_set_enabled(site: Site, ids: Iterable[int], enabled: bool) -> int:
    """Enable or disable entries of the site; returns how many changed."""
    entries = FaqEntry.objects.filter(site=site, id__in=list(ids)).exclude(enabled=enabled)
    changed = list(entries.values_list("id", flat=True))
    FaqEntry.objects.filter(id__in=changed).update(enabled=enabled, updated_at=timezone.now())
    if changed:
        _faq_changed_on_commit(site.id, changed, embed_needed=False)
    return len(changed)


def _faq_changed_on_commit(site_id: int, faq_ids: list[int], *, embed_needed: bool) -> None:
    if embed_needed:
        transaction.on_commit(lambda: faq_embed_schedule(faq_ids))
    transaction.on_commit(lambda: knowledge_changed(site_id, faq_ids=faq_ids))


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- Embeddings ------------------------------------------------------------------------------


def faq_embed_schedule(faq_ids: list[int]) -> None:
    from knowledge.tasks import faq_embed_task

    for chunk in _chunks(sorted(set(faq_ids)), EMBED_CHUNK):
        faq_embed_task.apply_async(args=(chunk,), queue=settings.BATCH_QUEUE)


ANSWER_PIECE_CHARS = 400  # an answer is embedded in pieces: one fact per piece, not a page


def faq_texts(entry: FaqEntry) -> list[tuple[str, str]]:
    """What is embedded of an entry, as (kind, text): each phrasing of its question, the
    questions staff confirmed for it, then its answer's plain text in pieces (a question is
    often answered by one sentence of it)."""
    from knowledge.passages import passages_split

    phrasings = [(FaqVector.Kind.PHRASING, t) for t in dict.fromkeys(entry.phrasings())]
    confirmed = sorted({e.text for e in entry.examples.all()} - {t for _, t in phrasings})
    examples = [(FaqVector.Kind.EXAMPLE, t) for t in confirmed]
    text = answer_text(entry.answer)
    pieces = passages_split(text, target_chars=ANSWER_PIECE_CHARS, overlap=0) if text else []
    answers = [(FaqVector.Kind.ANSWER, p) for p in dict.fromkeys(pieces) if p.strip()]
    return [*phrasings, *examples, *answers]


def faq_embed(faq_ids: Iterable[int]) -> int:
    """Compute and store the vectors of the entries' phrasings and answer pieces, replacing
    the old ones.

    Runs the model outside any transaction; an entry edited meanwhile is left for the
    embedding its edit queued. Returns the number of vectors stored.
    """
    stored = 0
    for chunk in _chunks(sorted(set(faq_ids)), EMBED_CHUNK):
        entries = (
            FaqEntry.objects.filter(id__in=chunk)
            .only("question", "alt_questions", "answer")
            .prefetch_related("examples")
        )
        texts = {e.id: faq_texts(e) for e in entries}
        vectors = iter(embed([text for rows in texts.values() for _, text in rows]))
        embedded = {
            i: [(kind, t, vector_to_bytes(next(vectors))) for kind, t in rows]
            for i, rows in texts.items()
        }
        stored += _faq_vectors_store(embedded)
    return stored


def _faq_vectors_store(embedded: dict[int, list[tuple[str, str, bytes]]]) -> int:
    with transaction.atomic():
        current = FaqEntry.objects.select_for_update().filter(id__in=list(embedded))
        fresh = {
            e.id: e.site_id
            for e in current.only(
                "site_id", "question", "alt_questions", "answer"
            ).prefetch_related("examples")
            if faq_texts(e) == [(kind, t) for kind, t, _ in embedded[e.id]]
        }
        FaqVector.objects.filter(faq_id__in=list(fresh)).delete()
        FaqVector.objects.bulk_create(
            FaqVector(faq_id=faq_id, kind=kind, text=text, vector=raw, tokens=tokens_stored(text))
            for faq_id in fresh
            for kind, text, raw in embedded[faq_id]
        )
        for site_id in set(fresh.values()):
            _faq_changed_on_commit(
                site_id, [i for i, s in fresh.items() if s == site_id], embed_needed=False
            )
    return sum(len(embedded[i]) for i in fresh)


def faq_embed_missing() -> int:
    """Queue the embedding of entries stored before their answers were embedded too (their
    answers are not searched until then); the number queued."""
    answered = FaqVector.objects.filter(kind=FaqVector.Kind.ANSWER).values("faq_id")
    missing = list(
        FaqEntry.objects.exclude(id__in=answered).exclude(answer="").values_list("id", flat=True)
    )
    if missing:
        faq_embed_schedule(missing)
    return len(missing)


def knowledge_reindex(site: Site) -> tuple[int, int]:
    """Embed every FAQ phrasing and passage of the site again; (vectors, passages) stored."""
    faq_ids = list(FaqEntry.objects.filter(site=site).values_list("id", flat=True))
    vectors = faq_embed(faq_ids)
    passage_ids = list(Passage.objects.filter(site=site).values_list("id", flat=True))
    documents: set[int] = set()
    for chunk in _chunks(passage_ids, EMBED_CHUNK):
        passages = list(Passage.objects.filter(id__in=chunk).only("document_id", "text"))
        for passage, vector in zip(passages, embed([p.text for p in passages]), strict=True):
            passage.vector = vector_to_bytes(vector)
            passage.tokens = tokens_stored(passage.text)
            documents.add(passage.document_id)
        Passage.objects.bulk_update(passages, ["vector", "tokens"])
    knowledge_changed(site.id, faq_ids=faq_ids, document_ids=documents)
    return vectors, len(passage_ids)


def _chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# --- Import ----------------------------------------------------------------------------------


def faq_import(
    *,
    site: Site,
    rows: list[dict[str, Any]],
    dry_run: bool = False,
    schedule_embedding: bool = True,
) -> ImportReport:
    """Create or update FAQ entries from rows (upsert by faq_id, else by the question).

    Each row is checked and saved in its own savepoint: a bad row is reported with its
    number and never stops the others. `dry_run` checks everything and stores nothing.
    """
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    errors: list[RowError] = []
    touched: list[int] = []
    modified: list[int] = []
    embed_ids: list[int] = []
    seen: dict[tuple[str, str], int] = {}
    with transaction.atomic():
        for position, raw in enumerate(rows, start=1):
            number = raw.get("_row", position) if isinstance(raw, dict) else position
            try:
                fields = faq_fields_clean(raw)
                _first_in_file(fields, number, seen)
                with transaction.atomic():
                    outcome, faq, rephrased = _faq_upsert(site, fields)
            except ValidationError as exc:
                errors.append(RowError(number, _error_text(exc)))
                continue
            except DatabaseError as exc:
                errors.append(RowError(number, f"Could not be saved: {exc}".strip()))
                continue
            counts[outcome] += 1
            touched.append(faq.id)
            if outcome != "unchanged":
                modified.append(faq.id)
            if rephrased:
                embed_ids.append(faq.id)
        embed_ids += _without_vectors(set(touched) - set(embed_ids))  # e.g. a failed embedding
        if dry_run:
            transaction.set_rollback(True)
        elif modified:
            transaction.on_commit(lambda: knowledge_changed(site.id, faq_ids=modified))
            if schedule_embedding and embed_ids:
                transaction.on_commit(lambda: faq_embed_schedule(embed_ids))
    errors.sort(key=lambda e: e.row)
    return ImportReport(**counts, errors=errors, embed_ids=[] if dry_run else embed_ids)


def faq_fields_clean(raw: Any) -> dict[str, Any]:
    """Model fields from one import row; ValidationError with a message a person can act on."""
    if not isinstance(raw, dict):
        raise ValidationError("The row must be an object with question and answer.")
    question = _one_line(_text(raw, "question", QUESTION_MAX_CHARS))
    answer = _text(raw, "answer", ANSWER_MAX_CHARS)
    alt_questions = [_one_line(q) for q in _text_list(raw, "alt_questions", QUESTION_MAX_CHARS)]
    return {
        "external_id": _identifier(raw.get("faq_id")),
        "question": question,
        "answer": answer,
        "alt_questions": [q for q in dict.fromkeys(alt_questions) if q != question],
        "tags": list(dict.fromkeys(_text_list(raw, "tags", TAG_MAX_CHARS))),
        "language": _text(raw, "language", 16, required=False),
        "enabled": _flag(raw.get("enabled")),
    }


def _text(raw: dict[str, Any], name: str, limit: int, *, required: bool = True) -> str:
    value = raw.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(f"'{name}' is missing or empty.")
        return ""
    if not isinstance(value, str):
        raise ValidationError(f"'{name}' must be text, not {type(value).__name__}.")
    if len(value.strip()) > limit:
        raise ValidationError(f"'{name}' is longer than {limit} characters.")
    return value.strip()


def _text_list(raw: dict[str, Any], name: str, limit: int) -> list[str]:
    value = raw.get(name)
    if value is None:
        return []
    items = _LIST_SEPARATOR.split(value) if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ValidationError(f"'{name}' must be a list of texts (or texts separated by |).")
    items = [item.strip() for item in items if item.strip()]
    if len(items) > LIST_MAX_ITEMS:
        raise ValidationError(f"'{name}' has more than {LIST_MAX_ITEMS} items.")
    if any(len(item) > limit for item in items):
        raise ValidationError(f"An item of '{name}' is longer than {limit} characters.")
    return items


def _identifier(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # spreadsheets store 12 as 12.0
    if value is None or (isinstance(value, str | int) and not isinstance(value, bool)):
        text = "" if value is None else str(value).strip()
        if len(text) <= 200:
            return text
        raise ValidationError("'faq_id' is longer than 200 characters.")
    raise ValidationError(f"'faq_id' must be text or a number, not {type(value).__name__}.")


def _flag(value: Any) -> bool:
    if value is None or value == "":
        return True
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValidationError(f"'enabled' must be true or false, not {value!r}.")


def _first_in_file(fields: dict[str, Any], number: int, seen: dict[tuple[str, str], int]) -> None:
    key = (
        ("faq_id", fields["external_id"])
        if fields["external_id"]
        else ("question", fields["question"])
    )
    if key in seen:
        hint = "" if key[0] == "faq_id" else " (give each a distinct faq_id to keep both)"
        raise ValidationError(f"{key[0]} {key[1][:80]!r} already appears in row {seen[key]}{hint}.")
    seen[key] = number


def _faq_upsert(site: Site, fields: dict[str, Any]) -> tuple[str, FaqEntry, bool]:
    """("created" | "updated" | "unchanged", entry, whether what is embedded changed)."""
    match = {"external_id": fields["external_id"]}
    if not fields["external_id"]:
        match["question"] = fields["question"]
    faq = FaqEntry.objects.filter(site=site, **match).first()
    if faq is None:
        faq = FaqEntry(site=site, **fields)
        faq.full_clean()
        faq.save()
        return "created", faq, True
    if all(getattr(faq, name) == value for name, value in fields.items()):
        return "unchanged", faq, False
    before = faq_texts(faq)
    for name, value in fields.items():
        setattr(faq, name, value)
    faq.full_clean()
    faq.save()
    return "updated", faq, faq_texts(faq) != before


def _without_vectors(faq_ids: set[int]) -> list[int]:
    entries = FaqEntry.objects.filter(id__in=list(faq_ids), vectors__isnull=True)
    return list(entries.values_list("id", flat=True))


def _error_text(exc: ValidationError) -> str:
    if not hasattr(exc, "error_dict"):
        return " ".join(exc.messages)
    parts = []
    for name, messages in exc.message_dict.items():
        label = "" if name == "__all__" else f"{name}: "
        parts.append(label + " ".join(messages))
    return "; ".join(parts)


# --- Export ----------------------------------------------------------------------------------


def faq_export(site: Site) -> list[dict[str, Any]]:
    """The site's FAQ entries as import rows (importing them again changes nothing)."""
    return [
        {
            "faq_id": faq.external_id,
            "question": faq.question,
            "answer": faq.answer,
            "alt_questions": faq.alt_questions,
            "tags": faq.tags,
            "language": faq.language,
            "enabled": faq.enabled,
        }
        for faq in FaqEntry.objects.filter(site=site).order_by("id")
    ]
