"""The worker side of a long summary: token-aware chunks, map steps, and what is left.

A summary whose text fits SUMMARY_CHUNK_TOKENS is one generation. A longer one is split
at paragraph (then sentence) boundaries into chunks of about that many tokens; each chunk
is summarized by a task of its own (a GPU backend runs them at once, a CPU worker one
after another), its result stored as it finishes; when every chunk of a level is done,
their results are summarized together by the generation itself (the reduce, streamed),
or split again one level up if they still do not fit. A worker that dies mid-step loses
that step only: the beat sends the generation's task again, which sends again the steps
whose worker went quiet (SUMMARY_STEP_STALE_SECONDS).
"""

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from chat import streams
from chat.engine import engine_backend
from chat.models import Generation
from chat.runner import Heartbeat, text_generate
from chat.services import generation_schedule
from inference.base import BackendError, GenerationParams
from summarize.extractive import extractive_summary, sentences_split
from summarize.models import Summary, SummaryStep
from summarize.prompts import step_messages

log = logging.getLogger(__name__)


def chunks_split(text: str, budget: int, count_tokens: Callable[[str], int]) -> list[str]:
    """`text` in consecutive chunks of at most about `budget` tokens, cut between
    paragraphs, else between sentences, else (one endless sentence) by characters."""
    pieces: list[tuple[str, int]] = []
    for paragraph in (p.strip() for p in text.split("\n\n")):
        if not paragraph:
            continue
        tokens = count_tokens(paragraph)
        if tokens <= budget:
            pieces.append((paragraph, tokens))
            continue
        for sentence in sentences_split(paragraph):
            size = count_tokens(sentence)
            while size > budget:  # cut by characters, in proportion
                cut = max(1, len(sentence) * budget // size)
                pieces.append((sentence[:cut], count_tokens(sentence[:cut])))
                sentence = sentence[cut:]
                size = count_tokens(sentence)
            if sentence:
                pieces.append((sentence, size))
    chunks: list[str] = []
    current: list[str] = []
    used = 0
    for piece, tokens in pieces:
        if current and used + tokens > budget:
            chunks.append("\n\n".join(current))
            current, used = [], 0
        current.append(piece)
        used += tokens + 2
    if current:
        chunks.append("\n\n".join(current))
    return chunks


def summary_ready(generation: Generation) -> bool:
    """Whether the reduce (or the one step of a short text) may run: every map step done.
    Otherwise plan the steps or the next level, and send the ones that need a worker."""
    summary = Summary.objects.filter(generation=generation).first()
    if summary is None:
        return True  # the runner settles it; nothing to plan
    budget = settings.SUMMARY_CHUNK_TOKENS
    steps = list(summary.steps.all())
    if not steps:
        backend = engine_backend()
        if backend.count_tokens(summary.source_text) <= budget:
            return True
        _level_plan(summary, 1, chunks_split(summary.source_text, budget, backend.count_tokens))
        return False
    level = max(step.level for step in steps)
    top = [step for step in steps if step.level == level]
    if any(step.done_at is None for step in top):
        _steps_send(summary, generation)
        return False
    joined = "\n\n".join(step.result for step in top)
    backend = engine_backend()
    if len(top) == 1 or backend.count_tokens(joined) <= budget:
        return True
    _level_plan(summary, level + 1, chunks_split(joined, budget, backend.count_tokens))
    return False


def _level_plan(summary: Summary, level: int, chunks: list[str]) -> None:
    SummaryStep.objects.bulk_create(
        [
            SummaryStep(summary=summary, level=level, position=i, text=t)
            for i, t in enumerate(chunks)
        ],
        ignore_conflicts=True,  # two tasks planned it at once: the same chunks
    )
    Generation.objects.filter(summary=summary).update(
        progress_total=SummaryStep.objects.filter(summary=summary).count()
    )
    log.info("summary %s: %d chunks at level %d", summary.id, len(chunks), level)
    _steps_send(summary, summary.generation)


def _steps_send(summary: Summary, generation: Generation | None) -> None:
    """Send the steps not done that no live worker holds: never sent, or quiet too long."""
    from summarize.tasks import summary_step_task

    stale = timezone.now() - timedelta(seconds=settings.SUMMARY_STEP_STALE_SECONDS)
    waiting = SummaryStep.objects.filter(summary=summary, done_at__isnull=True).filter(
        Q(started_at__isnull=True) | Q(started_at__lt=stale)
    )
    if settings.SUMMARY_STEPS_INLINE:  # evaluation: one process, one step after another
        for step_id in waiting.values_list("id", flat=True):
            step_run(step_id)
        return
    for step_id, started_at in waiting.values_list("id", "started_at"):
        if started_at is not None:
            log.warning("summary %s: step %s went quiet; sending it again", summary.id, step_id)
        summary_step_task.apply_async(args=(step_id,), queue=settings.BATCH_QUEUE)


def step_run(step_id: int) -> None:
    """Summarize one chunk (the map step) and store the result; the last step of a level
    sends the generation on. A cancelled or settled job's steps do nothing."""
    step = SummaryStep.objects.select_related("summary").filter(id=step_id).first()
    if step is None or step.done_at is not None:
        return
    generation_id = step.summary.generation_id
    if generation_id is None:
        return
    if not Generation.objects.filter(id=generation_id, status=Generation.Status.QUEUED).exists():
        return
    stale = timezone.now() - timedelta(seconds=settings.SUMMARY_STEP_STALE_SECONDS)
    claimed = (
        SummaryStep.objects.filter(id=step_id, done_at__isnull=True)
        .filter(Q(started_at__isnull=True) | Q(started_at__lt=stale))
        .update(started_at=timezone.now())
    )
    if not claimed:
        return  # a live worker has it
    beat = Heartbeat(
        lambda: SummaryStep.objects.filter(id=step_id, done_at__isnull=True).update(
            started_at=timezone.now()
        )
    )
    with beat:
        result, method = _step_text(step, generation_id)
    if result is None:
        return  # cancelled
    if not SummaryStep.objects.filter(id=step_id, done_at__isnull=True).update(
        result=result, method=method, done_at=timezone.now()
    ):
        return  # a second copy of this step finished first
    Generation.objects.filter(id=generation_id).update(progress_done=F("progress_done") + 1)
    done, total = Generation.objects.values_list("progress_done", "progress_total").get(
        id=generation_id
    )
    streams.stream_progress(generation_id, done, total)
    level = SummaryStep.objects.filter(summary_id=step.summary_id, level=step.level)
    if not settings.SUMMARY_STEPS_INLINE and not level.filter(done_at__isnull=True).exists():
        generation_schedule(generation_id, "summary")  # the reduce, or the next level


def _step_text(step: SummaryStep, generation_id: uuid.UUID) -> tuple[str | None, str]:
    """The chunk's summary by the model; its extractive summary when the model fails."""
    language = step.summary.language
    params = GenerationParams(max_tokens=settings.SUMMARY_STEP_MAX_TOKENS, temperature=0.0)

    def cancelled() -> bool:  # generation_cancel always sets the flag
        return streams.cancel_requested(generation_id)

    try:
        text = text_generate(
            engine_backend(),
            step_messages(text=step.text, language=language),
            params,
            f"{generation_id}:step:{step.id}",
            cancelled,
        )
    except BackendError as exc:
        log.warning("summary step %s: model failed (%s); extractive instead", step.id, exc)
        return extractive_summary(step.text, max_sentences=4), Summary.Method.EXTRACTIVE
    if text is None:
        return None, ""
    return text.strip() or extractive_summary(step.text, max_sentences=4), Summary.Method.MODEL
