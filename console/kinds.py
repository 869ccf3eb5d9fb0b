"""An agent's suggested reply as a kind of generation (chat.kinds): drafted by the model
from the conversation and the site's knowledge, streamed into the agent's reply box, sent
to nobody. Its text is kept with the generation."""

from typing import Any

from django.conf import settings

from chat.kinds import GenerationKind, Outcome
from chat.models import Generation
from inference.base import Backend, ChatMessage, GenerationParams

SUGGEST_SYSTEM = (
    "You draft replies for a customer-service agent of {site}. Write the agent's next "
    "message to the customer: short, friendly and factual. Use the numbered sources when "
    "they answer; never invent prices, dates or policies; if the sources do not answer, "
    "ask the customer for what you need or say the agent will check. Write in {language}. "
    "Reply with the message only."
)
LANGUAGE_NAMES = {"en": "English", "zh": "Simplified Chinese"}


class ReplySuggestionKind(GenerationKind):
    name = "reply_suggestion"

    def prompt(self, generation: Generation, backend: Backend) -> tuple[list[ChatMessage], int]:
        from chat.answers import sources_block

        conversation = generation.conversation
        if conversation is None:
            raise LookupError(f"suggestion {generation.id} has no conversation")
        language = generation.context.get("language") or conversation.site.staff_language
        system = SUGGEST_SYSTEM.format(
            site=conversation.site.name, language=LANGUAGE_NAMES.get(language, language)
        )
        sources = generation.context.get("sources") or []
        if sources:
            system = f"{system}\n\nSources:\n{sources_block(sources)}"
        # The transcript as text, then one ask: given as chat turns, the small model
        # carried on as the customer ("I'd like to connect with a human agent.").
        lines = []
        for message in conversation.messages.exclude(text="", original="").order_by("id"):
            if message.route in ("no_answer", "handoff"):
                continue  # fixed texts: the model copies them instead of answering
            who = {"user": "Customer", "agent": "Agent"}.get(message.role, "Assistant")
            # the staff's language: a visitor's message translated, an agent's as written
            text = message.translation or message.original or message.text
            if text:
                lines.append(f"{who}: {text}")
        ask = (
            "Write the agent's next message to the customer, with the facts of the sources "
            "that answer (check that they apply to the customer's case)."
            if sources
            else "Write the agent's next message to the customer."
        )
        budget = settings.GENERATION_CONTEXT_TOKENS - settings.GENERATION_MAX_TOKENS - 64
        budget -= backend.count_tokens(system) + backend.count_tokens(ask) + 16
        kept: list[str] = []
        for line in reversed(lines):  # the newest lines that fit
            budget -= backend.count_tokens(line)
            if budget < 0:
                break
            kept.insert(0, line)
        transcript = "\n".join(kept)
        messages: list[ChatMessage] = [
            {"role": "system", "content": system},
            {"role": "user", "content": f"Conversation so far:\n{transcript}\n\n{ask}"},
        ]
        return messages, len(lines) - len(kept)

    def params(self, generation: Generation) -> GenerationParams:
        return GenerationParams(max_tokens=settings.GENERATION_MAX_TOKENS, temperature=0.0)

    def outcome(self, generation: Generation, text: str, status: str) -> Outcome:
        return Outcome(text.strip())

    def store(self, generation: Generation, status: str, outcome: Outcome | None) -> None:
        if outcome is not None:
            context: dict[str, Any] = {**generation.context, "text": outcome.text}
            Generation.objects.filter(id=generation.id).update(context=context)

    def result(self, generation: Generation) -> Outcome:
        generation.refresh_from_db(fields=["context"])
        return Outcome(str(generation.context.get("text") or ""))
