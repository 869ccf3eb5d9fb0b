"""An agent's suggested reply as a kind of generation (chat.kinds): drafted by the model
from the conversation and the site's knowledge, streamed into the agent's reply box, sent
to nobody. Its text is kept with the generation."""

from typing import Any

from django.conf import settings

from chat.kinds import GenerationKind, Outcome
from chat.models import Generation, Message
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
        from inference.prompt import prompt_fit

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
        history: list[ChatMessage] = []
        for message in conversation.messages.exclude(text="", original="").order_by("id"):
            role = "user" if message.role == Message.Role.USER else "assistant"
            # the staff's language: a visitor's message translated, an agent's as written
            text = message.translation or message.original or message.text
            if text:
                history.append({"role": role, "content": text})  # type: ignore[typeddict-item]
        budget = settings.GENERATION_CONTEXT_TOKENS - settings.GENERATION_MAX_TOKENS - 64
        return prompt_fit(
            system=system, history=history, budget=budget, count_tokens=backend.count_tokens
        )

    def params(self, generation: Generation) -> GenerationParams:
        return GenerationParams(max_tokens=settings.GENERATION_MAX_TOKENS, temperature=0.3)

    def outcome(self, generation: Generation, text: str, status: str) -> Outcome:
        return Outcome(text.strip())

    def store(self, generation: Generation, status: str, outcome: Outcome | None) -> None:
        if outcome is not None:
            context: dict[str, Any] = {**generation.context, "text": outcome.text}
            Generation.objects.filter(id=generation.id).update(context=context)

    def result(self, generation: Generation) -> Outcome:
        generation.refresh_from_db(fields=["context"])
        return Outcome(str(generation.context.get("text") or ""))
