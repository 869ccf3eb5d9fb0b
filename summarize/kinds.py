"""A summary as a kind of generation (chat.kinds): its prompt, its steps, its fallback."""

from django.conf import settings

from chat.kinds import GenerationKind, Outcome
from chat.models import Generation
from inference.base import Backend, ChatMessage, GenerationParams
from summarize.models import Summary
from summarize.prompts import reduce_messages, summary_messages


def _summary(generation: Generation) -> Summary:
    return Summary.objects.get(generation=generation)


class SummaryKind(GenerationKind):
    name = "summary"
    queue_setting = "BATCH_QUEUE"

    def ready(self, generation: Generation) -> bool:
        from summarize.steps import summary_ready

        return summary_ready(generation)

    def prompt(self, generation: Generation, backend: Backend) -> tuple[list[ChatMessage], int]:
        summary = _summary(generation)
        language, length, kind = summary.language, summary.length, summary.kind
        structured = summary.structured
        steps = list(summary.steps.all())
        if not steps:
            text = summary.source_text
            messages = summary_messages(
                text=text, language=language, length=length, kind=kind, structured=structured
            )
            return messages, 0
        level = max(step.level for step in steps)
        parts = [step.result for step in steps if step.level == level]
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
