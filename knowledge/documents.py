"""Documents: uploaded files stored for a site, then indexed in a task: read into sections
(knowledge.extract), cut into passages (knowledge.passages), embedded, and the passages
replaced in one transaction; re-indexing and deletion, with the progress shown in the admin."""

import logging
import mimetypes
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from knowledge.embeddings import embed, vector_to_bytes
from knowledge.extract import DocumentUnreadable, document_format, document_sections_extract
from knowledge.index import knowledge_changed
from knowledge.models import Document, Passage
from knowledge.passages import CJK, sections_split
from knowledge.text import tokens_stored
from sites.models import Site

log = logging.getLogger(__name__)
EMBED_BATCH = 64


def _size_check(size: int) -> None:
    limit = settings.KNOWLEDGE_MAX_UPLOAD_BYTES
    if size > limit:
        raise ValidationError(f"The file is larger than {limit // (1024 * 1024)} MB.")


def document_store(
    *, site: Site, name: str, data: bytes, title: str = "", content_type: str = ""
) -> Document:
    """Store a file as a document of `site`, not indexed yet (see document_index).

    Raises ValidationError (too big, empty) or DocumentUnreadable (unsupported or damaged
    file); nothing is stored then.
    """
    name = PurePath(name or "document").name
    _size_check(len(data))
    if not data:
        raise ValidationError("The file is empty.")
    content_type = content_type or mimetypes.guess_type(name)[0] or ""
    document_format(name=name, content_type=content_type).check(data)
    document = Document(
        site=site,
        title=(title.strip() or PurePath(name).stem)[:300],
        file=ContentFile(data, name=name),
        content_type=content_type[:100],
    )
    document.full_clean()
    document.save()
    return document


def document_create(*, site: Site, title: str, upload: UploadedFile) -> Document:
    """Store an uploaded file as a document of `site` and index it after the commit.

    Raises ValidationError (too big, empty) or DocumentUnreadable (unsupported or damaged
    file); nothing is stored then.
    """
    _size_check(upload.size or 0)
    with transaction.atomic():
        document = document_store(
            site=site,
            name=upload.name or "",
            data=upload.read(),
            title=title,
            content_type=upload.content_type or "",
        )
        transaction.on_commit(lambda: document_index_schedule(document.id))
    return document


def document_index_schedule(document_id: int) -> None:
    from knowledge.tasks import document_index_task

    document_index_task.apply_async(args=(document_id,), queue=settings.BATCH_QUEUE)


def document_reindex(*, document: Document) -> None:
    """Queue a document for indexing again (its passages stay until the new ones are ready)."""
    Document.objects.filter(id=document.id).update(status=Document.Status.PENDING, progress=0)
    transaction.on_commit(lambda: document_index_schedule(document.id))


def document_delete(*, document: Document) -> None:
    """Delete a document, its passages and its file; the site's index follows on commit."""
    site_id, document_id = document.site_id, document.id
    file_name, storage = document.file.name, document.file.storage
    document.delete()

    def cleanup() -> None:
        if file_name:
            storage.delete(file_name)
        knowledge_changed(site_id, document_ids=[document_id])

    transaction.on_commit(cleanup)


def _progress_set(document_id: int, progress: int, **fields: object) -> None:
    Document.objects.filter(id=document_id).update(
        progress=progress, updated_at=timezone.now(), **fields
    )


def _vectors_embed(document_id: int, texts: list[str]) -> list[bytes]:
    """Embeddings of the passages in batches, moving the progress from 10 to 95 percent."""
    vectors: list[bytes] = []
    for start in range(0, len(texts), EMBED_BATCH):
        vectors.extend(vector_to_bytes(v) for v in embed(texts[start : start + EMBED_BATCH]))
        _progress_set(document_id, 10 + 85 * len(vectors) // len(texts))
    return vectors


def _language_guess(text: str) -> str:
    sample = text[:5000]
    letters = sum(ch.isalpha() for ch in sample) or 1
    return "zh" if len(CJK.findall(sample)) / letters > 0.3 else ""


def document_index(*, document_id: int) -> None:
    """Read, split and embed a document, then replace its passages in one transaction.

    Running it again gives the same passages. On failure the document is marked FAILED with
    the reason; passages already stored (of this and other documents) stay as they were.
    """
    document = Document.objects.filter(id=document_id).first()
    if document is None:
        log.info("document %s was deleted before indexing", document_id)
        return
    _progress_set(document.id, 0, status=Document.Status.INDEXING, error="")
    try:
        with document.file.open("rb") as stored:
            data = stored.read()
        sections = document_sections_extract(
            name=document.file.name or "", data=data, content_type=document.content_type
        )
        texts = sections_split(sections)
        _progress_set(document.id, 10)
        vectors = _vectors_embed(document.id, texts)
    except (DocumentUnreadable, OSError) as exc:
        _progress_set(document.id, 0, status=Document.Status.FAILED, error=str(exc))
        return
    except Exception:
        log.exception("indexing document %s failed", document_id)
        error = "Indexing failed unexpectedly; try Re-index, or ask an administrator."
        _progress_set(document.id, 0, status=Document.Status.FAILED, error=error)
        raise
    _passages_replace(document, texts, vectors, _language_guess("\n\n".join(texts)))


def _passages_replace(
    document: Document, texts: list[str], vectors: list[bytes], lang: str
) -> None:
    with transaction.atomic():
        # The lock keeps two runs of the same document from mixing their passages.
        if not Document.objects.select_for_update().filter(id=document.id).exists():
            return
        Passage.objects.filter(document_id=document.id).delete()
        Passage.objects.bulk_create(
            Passage(
                document_id=document.id,
                site_id=document.site_id,
                position=i,
                text=t,
                vector=v,
                tokens=tokens_stored(t),
            )
            for i, (t, v) in enumerate(zip(texts, vectors, strict=True))
        )
        fields: dict[str, object] = {"status": Document.Status.READY, "error": ""}
        if lang and not document.language:
            fields["language"] = lang
        _progress_set(document.id, 100, **fields)
        site_id, document_id = document.site_id, document.id
        transaction.on_commit(lambda: knowledge_changed(site_id, document_ids=[document_id]))
