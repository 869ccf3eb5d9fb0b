"""Generations that work in steps: a long input cut into chunks, each chunk a task of its
own (the map), the generation itself once every step is done (a summary's reduce; a
translation's join). One mechanism for every kind; a kind says how to cut its input, what
each step asks the model, and what to do when a level is done (chat.kinds).

A chunk's result is stored as it finishes, with `generation.progress {done, total}`. Steps
run on the kind's queue (a GPU backend runs them at once, a CPU worker one after another).
A worker that dies mid-step loses that step only: the beat sends the generation's task
again (generation_requeue), which sends again the steps whose worker went quiet
(SUMMARY_STEP_STALE_SECONDS), never the finished ones. Stop ends the generation; its
remaining steps do nothing.
"""

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from chat import streams
from chat.models import Generation, GenerationStep
from inference.base import BackendError

if TYPE_CHECKING:
    from chat.kinds import GenerationKind

log = logging.getLogger(__name__)


def chunks_split(text: str, budget: int, count_tokens: Callable[[str], int]) -> list[str]:
    """`text` in consecutive chunks of at most about `budget` tokens, cut between
    paragraphs, else between sentences, else (one endless sentence) by characters."""
    from summarize.extractive import sentences_split

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


def steps_ready(generation: Generation, kind: "GenerationKind") -> bool:
    """Whether the generation's own model call (or join) may run: every step done.
    Otherwise plan the first level or the next, and send the steps that need a worker."""
    steps = list(GenerationStep.objects.filter(generation=generation))
    if not steps:
        chunks = kind.steps_plan(generation, kind.backend())
        if not chunks:
            return True  # one step: the generation itself
        _level_plan(generation, kind, 1, chunks)
        return False
    level = max(step.level for step in steps)
    top = [step for step in steps if step.level == level]
    if any(step.done_at is None for step in top):
        _steps_send(generation, kind)
        return False
    following = kind.steps_next(generation, [step.result for step in top], kind.backend())
    if not following:
        return True
    _level_plan(generation, kind, level + 1, following)
    return False


def steps_results(generation: Generation) -> list[str]:
    """The results of the last level, in order ([] for a generation without steps)."""
    steps = list(GenerationStep.objects.filter(generation=generation))
    if not steps:
        return []
    level = max(step.level for step in steps)
    return [step.result for step in steps if step.level == level]


def _level_plan(
    generation: Generation, kind: "GenerationKind", level: int, chunks: list[str]
) -> None:
    GenerationStep.objects.bulk_create(
        [
            GenerationStep(generation=generation, level=level, position=i, text=text)
            for i, text in enumerate(chunks)
        ],
        ignore_conflicts=True,  # two tasks planned it at once: the same chunks
    )
    Generation.objects.filter(id=generation.id).update(
        progress_total=GenerationStep.objects.filter(generation=generation).count()
    )
    log.info("generation %s: %d steps at level %d", generation.id, len(chunks), level)
    _steps_send(generation, kind)


def _steps_send(generation: Generation, kind: "GenerationKind") -> None:
    """Send the steps not done that no live worker holds: never started, or quiet too long."""
    from chat.tasks import generation_step_run

    stale = timezone.now() - timedelta(seconds=settings.SUMMARY_STEP_STALE_SECONDS)
    waiting = GenerationStep.objects.filter(generation=generation, done_at__isnull=True).filter(
        Q(started_at__isnull=True) | Q(started_at__lt=stale)
    )
    if settings.SUMMARY_STEPS_INLINE:  # evaluation: one process, one step after another
        for step_id in waiting.values_list("id", flat=True):
            step_run(step_id)
        return
    for step_id, started_at in waiting.values_list("id", "started_at"):
        if started_at is not None:
            log.warning(
                "generation %s: step %s went quiet; sending it again", generation.id, step_id
            )
        generation_step_run.apply_async(args=(step_id,), queue=kind.queue())


def step_run(step_id: int) -> None:
    """Run one step and store its result; the last step of a level sends the generation
    on. The steps of a cancelled or settled generation do nothing."""
    from chat.kinds import kind_get
    from chat.runner import Heartbeat, text_generate
    from chat.services import generation_schedule

    step = GenerationStep.objects.select_related("generation").filter(id=step_id).first()
    if step is None or step.done_at is not None:
        return
    generation = step.generation
    if generation.status != Generation.Status.QUEUED:
        return
    stale = timezone.now() - timedelta(seconds=settings.SUMMARY_STEP_STALE_SECONDS)
    claimed = (
        GenerationStep.objects.filter(id=step_id, done_at__isnull=True)
        .filter(Q(started_at__isnull=True) | Q(started_at__lt=stale))
        .update(started_at=timezone.now())
    )
    if not claimed:
        return  # a live worker has it
    kind = kind_get(generation.kind)
    beat = Heartbeat(
        lambda: GenerationStep.objects.filter(id=step_id, done_at__isnull=True).update(
            started_at=timezone.now()
        )
    )
    with beat:
        try:
            text = text_generate(
                kind.backend(),
                kind.step_messages(generation, step),
                kind.step_params(generation, step),
                f"{generation.id}:step:{step.id}",
                lambda: streams.cancel_requested(generation.id),  # generation_cancel sets it
            )
            result, method = (None, "") if text is None else (text.strip(), "model")
        except BackendError as exc:
            log.warning("generation %s step %s: the model failed (%s)", generation.id, step.id, exc)
            result, method = kind.step_fallback(generation, step), "fallback"
        if result == "" and text is not None:
            result, method = kind.step_fallback(generation, step), "fallback"
    if result is None:
        return  # cancelled
    if not GenerationStep.objects.filter(id=step_id, done_at__isnull=True).update(
        result=result, method=method, done_at=timezone.now()
    ):
        return  # a second copy of this step finished first
    Generation.objects.filter(id=generation.id).update(progress_done=F("progress_done") + 1)
    done, total = Generation.objects.values_list("progress_done", "progress_total").get(
        id=generation.id
    )
    streams.stream_progress(generation.id, done, total)
    level = GenerationStep.objects.filter(generation=generation, level=step.level)
    if not settings.SUMMARY_STEPS_INLINE and not level.filter(done_at__isnull=True).exists():
        generation_schedule(generation.id, generation.kind)  # the next level or the end
