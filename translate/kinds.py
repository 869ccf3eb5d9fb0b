"""A translation as a kind of generation (chat.kinds).

A short text is one streamed generation. A document (Markdown or HTML with several
blocks, or a text over TRANSLATION_CHUNK_TOKENS) is translated in steps (chat.steps), one
segment (a block's text; a long one cut at sentences) a step, with progress; when all
are done the segments are put back into the markup (no model call).
"""

from dataclasses import replace
from typing import Any

from django.conf import settings

from chat.kinds import GenerationKind, Outcome
from chat.models import Generation, GenerationStep
from chat.steps import chunks_split, steps_ready, steps_results
from inference.base import Backend, BackendError, ChatMessage, GenerationParams
from inference.prompt import estimate_tokens
from translate.glossary import (
    Term,
    glossary_apply,
    glossary_hold,
    glossary_misses,
    terms_for,
    terms_in,
)
from translate.models import Translation
from translate.prompts import translation_clean, translation_messages
from translate.structure import document_parse, placeholders_restore


def _translation(generation: Generation) -> Translation:
    return Translation.objects.select_related("site").get(generation=generation)


def translation_terms(translation: Translation) -> list[Term]:
    return terms_for(
        site=translation.site,
        source_lang=translation.source_lang,
        target_lang=translation.target_lang,
        extra=translation.glossary,
    )


def _restored(document: Any, index: int, value: str) -> str:
    kept = document.protected[index] if index < len(document.protected) else {}
    return placeholders_restore(value, kept)


def _params(source: str) -> GenerationParams:
    """Greedy, and a translation is about as long as its source: a model that does not stop
    is cut at twice the source's length."""
    wanted = 2 * estimate_tokens(source) + 32
    return GenerationParams(
        max_tokens=min(wanted, settings.TRANSLATION_MAX_TOKENS), temperature=0.0
    )


# The asks of a repair: greedy first, then sampled with a seed each (reproducible) for a
# model that dropped the placeholder with the phrase around it. On WMT22 en->zh with the
# NTREX glossary (a set apart from the figures): 13 terms missed by the first translation,
# 7 after the greedy ask, 5 after the two sampled ones.
REPAIR_ASKS = ((0.0, None), (0.7, 1), (0.7, 2))


def glossary_repair(
    backend: Backend, terms: list[Term], source: str, translation: str, *, source_lang: str,
    target_lang: str, request_id: str,
) -> str:  # fmt: skip
    """A translation that missed glossary terms, asked again with each missed term replaced
    in the source by a placeholder, which is then put back as the term's target; a new one
    is kept only if it respects more of the terms. The small model drops a phrase that held
    a term, or translates it for its context, about one time in twenty; a placeholder it
    copies far more often."""
    present = terms_in(terms, source)

    def missed(text: str) -> list[Term]:
        return [term for term in present if not term.respected_in(text)]

    wanted = missed(translation)
    held, targets = glossary_hold(wanted, source)
    messages = translation_messages(
        text=held, source_lang=source_lang, target_lang=target_lang,
        terms=[term for term in present if term not in wanted],
    )  # fmt: skip
    best, fewest = translation, len(wanted)
    for n, (temperature, seed) in enumerate(REPAIR_ASKS):
        if not fewest:
            break
        params = replace(_params(source), temperature=temperature, seed=seed)
        try:
            text = "".join(d.text for d in backend.stream(messages, params, f"{request_id}:{n}"))
        except BackendError:
            break
        restored = placeholders_restore(translation_clean(text, held), targets)
        candidate = glossary_apply(terms, source, restored)
        if candidate.strip() and len(missed(candidate)) < fewest:
            best, fewest = candidate, len(missed(candidate))
    return best


class TranslationKind(GenerationKind):
    name = "translation"
    queue_setting = "BATCH_QUEUE"
    task = "translate"

    def ready(self, generation: Generation) -> bool:
        return steps_ready(generation, self)

    def steps_plan(self, generation: Generation, backend: Backend) -> list[str] | None:
        translation = _translation(generation)
        document = document_parse(translation.source_text, translation.format)
        budget = settings.TRANSLATION_CHUNK_TOKENS
        whole = backend.count_tokens(translation.source_text) <= budget
        if translation.format == Translation.Format.TEXT and whole:
            return None  # one streamed step: the model keeps its paragraph breaks
        if len(document.segments) <= 1 and whole:
            return None
        steps: list[str] = []
        plan: list[int] = []  # steps per segment
        for segment in document.segments:
            pieces = chunks_split(segment, budget, backend.count_tokens) or [segment]
            steps += pieces
            plan.append(len(pieces))
        context = {**generation.context, "segments": plan}
        Generation.objects.filter(id=generation.id).update(context=context)
        generation.context = context
        return steps

    def step_messages(self, generation: Generation, step: GenerationStep) -> list[ChatMessage]:
        translation = _translation(generation)
        return translation_messages(
            text=step.text,
            source_lang=translation.source_lang,
            target_lang=translation.target_lang,
            terms=terms_in(translation_terms(translation), step.text),
        )

    def step_params(self, generation: Generation, step: GenerationStep) -> GenerationParams:
        return _params(step.text)

    def step_fallback(self, generation: Generation, step: GenerationStep) -> str:
        return step.text  # the model failed on it: the source stays, the report says so

    def before(
        self, generation: Generation, backend: Backend, messages: list[ChatMessage]
    ) -> Outcome | None:
        results = steps_results(generation)
        if not results:
            return None
        translation = _translation(generation)
        generation.refresh_from_db(fields=["context"])
        plan: list[int] = generation.context.get("segments") or [1] * len(results)
        steps = list(GenerationStep.objects.filter(generation=generation, level=1))
        document = document_parse(translation.source_text, translation.format)
        terms = translation_terms(translation)
        joined, at = [], 0

        def repaired(step: GenerationStep) -> str:
            text = glossary_apply(terms, step.text, translation_clean(step.result, step.text))
            return glossary_repair(
                backend, terms, step.text, text, source_lang=translation.source_lang,
                target_lang=translation.target_lang,
                request_id=f"{generation.id}:repair:{step.position}",
            )  # fmt: skip

        for count in plan:
            joined.append(" ".join(repaired(step) for step in steps[at : at + count]))
            at += count
        text = document.rebuild(joined)
        sources = [document.source(i) for i in range(len(joined))]
        joined = [_restored(document, i, value) for i, value in enumerate(joined)]
        failed = sum(s.method == "fallback" for s in steps)
        return self._outcome(translation, text, list(zip(sources, joined, strict=True)), failed)

    def prompt(self, generation: Generation, backend: Backend) -> tuple[list[ChatMessage], int]:
        translation = _translation(generation)
        text = translation.source_text
        terms = terms_in(translation_terms(translation), text)
        messages = translation_messages(
            text=text,
            source_lang=translation.source_lang,
            target_lang=translation.target_lang,
            terms=terms,
        )
        return messages, 0

    def params(self, generation: Generation) -> GenerationParams:
        return _params(_translation(generation).source_text)

    def outcome(self, generation: Generation, text: str, status: str) -> Outcome:
        translation = _translation(generation)
        terms = translation_terms(translation)
        source = translation.source_text
        cleaned = glossary_apply(terms, source, translation_clean(text, source))
        if status == Generation.Status.DONE:
            cleaned = glossary_repair(
                self.backend(), terms, source, cleaned, source_lang=translation.source_lang,
                target_lang=translation.target_lang, request_id=f"{generation.id}:repair",
            )  # fmt: skip
        return self._outcome(translation, cleaned, [(source, cleaned)], 0)

    def _outcome(
        self, translation: Translation, text: str, pairs: list[tuple[str, str]], failed: int
    ) -> Outcome:
        misses = glossary_misses(translation_terms(translation), pairs)
        extra: dict[str, Any] = {
            "source_lang": translation.source_lang,
            "target_lang": translation.target_lang,
            "glossary_misses": misses,
            "segments_failed": failed,
        }
        return Outcome(text, extra=extra, replaced=True)

    def store(self, generation: Generation, status: str, outcome: Outcome | None) -> None:
        fields: dict[str, object] = {"status": status}
        if outcome is not None:
            fields["text"] = outcome.text
            fields["glossary_misses"] = outcome.extra.get("glossary_misses", [])
        Translation.objects.filter(generation=generation).update(**fields)

    def result(self, generation: Generation) -> Outcome:
        translation = Translation.objects.filter(generation=generation).first()
        if translation is None:
            return Outcome("")
        extra = {
            "source_lang": translation.source_lang,
            "target_lang": translation.target_lang,
            "glossary_misses": translation.glossary_misses,
        }
        return Outcome(translation.text, extra=extra)


class MessageTranslationKind(GenerationKind):
    """A message of a conversation translated for the other side (translate.live): short,
    on the chat queue so that a visitor or an agent never waits behind a document."""

    name = "message_translation"
    queue_setting = "CHAT_QUEUE"
    task = "translate"

    def _source(self, generation: Generation) -> str:
        message = generation.message
        if message is None:
            return ""
        return message.original or message.text

    def prompt(self, generation: Generation, backend: Backend) -> tuple[list[ChatMessage], int]:
        text = self._source(generation)
        source, target = generation.context["source"], generation.context["target"]
        site = generation.conversation.site if generation.conversation else None
        terms = (
            terms_in(terms_for(site=site, source_lang=source, target_lang=target), text)
            if site
            else []
        )
        return translation_messages(
            text=text, source_lang=source, target_lang=target, terms=terms
        ), 0

    def params(self, generation: Generation) -> GenerationParams:
        return _params(self._source(generation))

    def outcome(self, generation: Generation, text: str, status: str) -> Outcome:
        return Outcome(translation_clean(text, self._source(generation)), replaced=True)

    def fallback(self, generation: Generation, code: str) -> Outcome | None:
        # Never block the message: an agent's is sent as written, a visitor's stays untranslated.
        return Outcome("", extra={"failed": True}, replaced=True)

    def partial(self, generation: Generation, text: str) -> Outcome:
        return Outcome("", extra={"failed": True})

    def store(self, generation: Generation, status: str, outcome: Outcome | None) -> None:
        from django.db import transaction

        from chat.models import Message
        from chat.notify import agent_message_announce
        from translate.live import translation_announce

        message = generation.message
        if message is None or status == Generation.Status.STREAMING or outcome is None:
            return
        translated = outcome.text if status == Generation.Status.DONE else ""
        if message.role == Message.Role.AGENT:
            Message.objects.filter(id=message.id).update(
                text=translated or message.original,
                language=generation.context["target"]
                if translated
                else message.translation_language,
                translation=message.original if translated else "",
                status=Message.Status.DONE,
            )
            transaction.on_commit(lambda: agent_message_announce(message.id), robust=True)
            return
        if translated:
            Message.objects.filter(id=message.id).update(
                translation=translated, translation_language=generation.context["target"]
            )
            transaction.on_commit(lambda: translation_announce(message.id), robust=True)

    def result(self, generation: Generation) -> Outcome:
        message = generation.message
        return Outcome(message.translation if message else "")


class MessageBackfillKind(MessageTranslationKind):
    """An older visitor message translated because staff opened the conversation: the same
    work, taken after every fresh task of the chat queue (an agent's reply, a new visitor
    message, an answer), so that opening a long conversation delays none of them."""

    name = "message_backfill"
    priority = 9
