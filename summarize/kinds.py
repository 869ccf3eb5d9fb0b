"""A summary as a kind of generation (chat.kinds): its prompt, its steps, its fallback.

A text over SUMMARY_CHUNK_TOKENS is summarized in steps (chat.steps): each chunk by a map
step, then the partial summaries together by the generation (the reduce, streamed), or
cut again one level up while they still do not fit.
"""

from django.conf import settings

from chat.kinds import GenerationKind, Outcome
from chat.models import Generation, GenerationStep
from chat.steps import chunks_split, steps_ready, steps_results
from inference.base import Backend, ChatMessage, GenerationParams
from summarize.extractive import extractive_summary
from summarize.models import Summary
from summarize.prompts import reduce_messages, step_messages, summary_messages


def _summary(generation: Generation) -> Summary:
    return Summary.objects.get(generation=generation)


class SummaryKind(GenerationKind):
    name = "summary"
    queue_setting = "BATCH_QUEUE"
    task = "summarize"

    def ready(self, generation: Generation) -> bool:
        return steps_ready(generation, self)

    def steps_plan(self, generation: Generation, backend: Backend) -> list[str] | None:
        text = _summary(generation).source_text
        budget = settings.SUMMARY_CHUNK_TOKENS
        if backend.count_tokens(text) <= budget:
            return None
        return chunks_split(text, budget, backend.count_tokens)

    def steps_next(
        self, generation: Generation, results: list[str], backend: Backend
    ) -> list[str] | None:
        joined = "\n\n".join(results)
        budget = settings.SUMMARY_CHUNK_TOKENS
        if len(results) == 1 or backend.count_tokens(joined) <= budget:
            return None  # the reduce fits
        return chunks_split(joined, budget, backend.count_tokens)

    def step_messages(self, generation: Generation, step: GenerationStep) -> list[ChatMessage]:
        return step_messages(text=step.text, language=_summary(generation).language)

    def step_params(self, generation: Generation, step: GenerationStep) -> GenerationParams:
        return GenerationParams(max_tokens=settings.SUMMARY_STEP_MAX_TOKENS, temperature=0.0)

    def step_fallback(self, generation: Generation, step: GenerationStep) -> str:
        return extractive_summary(step.text, max_sentences=4)

    def prompt(self, generation: Generation, backend: Backend) -> tuple[list[ChatMessage], int]:
        summary = _summary(generation)
        language, length, kind = summary.language, summary.length, summary.kind
        structured = summary.structured
        parts = steps_results(generation)
        if not parts:
            text = summary.source_text
            messages = summary_messages(
                text=text, language=language, length=length, kind=kind, structured=structured
            )
            return messages, 0
        messages = reduce_messages(
            parts=parts, language=language, length=length, kind=kind, structured=structured
        )
        return messages, 0

    def params(self, generation: Generation) -> GenerationParams:
        return GenerationParams(max_tokens=settings.SUMMARY_MAX_TOKENS, temperature=0.0)

    def outcome(self, generation: Generation, text: str, status: str) -> Outcome:
        text = text.strip()
        if status == Generation.Status.DONE and not text:  # the model wrote nothing
            return self._extractive(generation)
        return Outcome(text, extra={"method": Summary.Method.MODEL}, replaced=text != "")

    def fallback(self, generation: Generation, code: str) -> Outcome | None:
        return self._extractive(generation)

    def _extractive(self, generation: Generation) -> Outcome:
        from summarize.services import summary_extractive

        summary = _summary(generation)
        text = summary_extractive(summary.source_text, kind=summary.kind, length=summary.length)
        return Outcome(text, extra={"method": Summary.Method.EXTRACTIVE}, replaced=True)

    def store(self, generation: Generation, status: str, outcome: Outcome | None) -> None:
        fields: dict[str, object] = {"status": status}
        if outcome is not None:
            fields["text"] = outcome.text
            fields["method"] = outcome.extra.get("method", Summary.Method.MODEL)
        Summary.objects.filter(generation=generation).update(**fields)

    def result(self, generation: Generation) -> Outcome:
        summary = Summary.objects.filter(generation=generation).first()
        if summary is None:
            return Outcome("")
        return Outcome(summary.text, extra={"method": summary.method})
