"""Kinds of generated text: what each one contributes to the one generation pipeline.

The runner (chat.runner) claims, prompts, streams, coalesces and settles every generation
the same way; the relay, cancel, reaper and metrics know nothing of kinds. A kind says how
its prompt is built, what its final text becomes, and where that text is stored. Apps
register theirs in their AppConfig.ready: the chat answer here, summaries in summarize.
"""

from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.db import transaction

from chat.models import Generation, GenerationStep, Message
from inference.base import Backend, ChatMessage, GenerationParams


@dataclass(frozen=True)
class Outcome:
    """What a settled generation stores and tells its readers."""

    text: str
    route: str = ""
    sources: list[dict[str, Any]] = field(default_factory=list)
    # Set when the final text is not what was streamed (readers must show this one).
    replaced: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # kind-specific (a summary's method)


class GenerationKind:
    """The defaults: one prompt, streamed as is, stored by `store`."""

    name = ""
    queue_setting = "CHAT_QUEUE"  # the settings name of the Celery queue its task goes to
    # Its tasks' Celery priority on that queue: with the Redis broker a worker takes 0 first
    # and 9 last (kombu keeps a list per step: 0, 3, 6, 9); fresh work is 0.
    priority = 0
    task = "chat"  # whose backend and model it uses (chat.engine)

    def backend(self) -> Backend:
        from chat.engine import engine_backend

        return engine_backend(self.task)

    def queue(self) -> str:
        return str(getattr(settings, self.queue_setting))

    def ready(self, generation: Generation) -> bool:
        """Whether the model may start (a job in steps first runs its steps); called by
        the runner before it claims the generation, also when its task is sent again."""
        return True

    def prompt(self, generation: Generation, backend: Backend) -> tuple[list[ChatMessage], int]:
        """The messages for the model, and how many older ones did not fit."""
        raise NotImplementedError

    # Work in steps (chat.steps): a kind whose `ready` calls chat.steps.steps_ready.

    def steps_plan(self, generation: Generation, backend: Backend) -> list[str] | None:
        """The chunks of the first level, or None to run as one step."""
        return None

    def steps_next(
        self, generation: Generation, results: list[str], backend: Backend
    ) -> list[str] | None:
        """The chunks of the next level from the results of the last, or None: done."""
        return None

    def step_messages(self, generation: Generation, step: GenerationStep) -> list[ChatMessage]:
        raise NotImplementedError

    def step_params(self, generation: Generation, step: GenerationStep) -> GenerationParams:
        return self.params(generation)

    def step_fallback(self, generation: Generation, step: GenerationStep) -> str:
        """A step's result when the model failed on it."""
        return step.text

    def params(self, generation: Generation) -> GenerationParams:
        return GenerationParams(
            max_tokens=settings.GENERATION_MAX_TOKENS,
            temperature=settings.GENERATION_TEMPERATURE,
        )

    def before(
        self, generation: Generation, backend: Backend, messages: list[ChatMessage]
    ) -> Outcome | None:
        """An outcome that makes the model call unnecessary (settled with it), or None."""
        return None

    def outcome(self, generation: Generation, text: str, status: str) -> Outcome:
        """The final outcome of what the model wrote."""
        return Outcome(text)

    def partial(self, generation: Generation, text: str) -> Outcome:
        """The outcome of a generation that ended early (failed, reaped) with `text`."""
        return Outcome(text)

    def fallback(self, generation: Generation, code: str) -> Outcome | None:
        """What to answer when the model failed (`code`), or None to settle as failed."""
        return None

    def store(self, generation: Generation, status: str, outcome: Outcome | None) -> None:
        """Write the target, inside the transaction that settles the generation. `outcome`
        is None for a settle that leaves the text as it is (a cancel while queued)."""

    def result(self, generation: Generation) -> Outcome:
        """The stored outcome of a settled generation (replayed to a reader)."""
        return Outcome("")


_kinds: dict[str, GenerationKind] = {}


def kind_register(kind: GenerationKind) -> None:
    _kinds[kind.name] = kind


def kind_get(name: str) -> GenerationKind:
    try:
        return _kinds[name]
    except KeyError:
        raise LookupError(f"no generation kind {name!r} is registered") from None


class ChatAnswer(GenerationKind):
    """An assistant message: the site's prompt, the conversation's history, and the
    grounded-answer rules (the source check, a reply that declines)."""

    name = "chat"

    def prompt(self, generation: Generation, backend: Backend) -> tuple[list[ChatMessage], int]:
        from chat.answers import chat_prompt

        return chat_prompt(generation, backend)

    def params(self, generation: Generation) -> GenerationParams:
        """The defaults, stopping where a grounded answer starts copying out the next source
        as the prompt lists it ("[2] Title" on a line of its own): the small model, its
        answer given, went on reproducing source after source until the token limit (seen
        with a Chinese help centre: 680 characters, most of them source [2] verbatim)."""
        sources = generation.context.get("sources") or []
        stop = tuple(dict.fromkeys(f"\n[{s['n']}] {s['title']}" for s in sources if s.get("title")))
        return replace(super().params(generation), stop=stop)

    def before(
        self, generation: Generation, backend: Backend, messages: list[ChatMessage]
    ) -> Outcome | None:
        from chat.answers import answer_question, no_answer_text, sources_miss

        if sources_miss(generation, backend, messages):
            return Outcome(no_answer_text(answer_question(generation)), route="no_answer")
        return None

    def outcome(self, generation: Generation, text: str, status: str) -> Outcome:
        from chat.answers import (
            answer_declines,
            answer_question,
            answer_ungrounded,
            no_answer_text,
            sources_cited,
        )

        sources = sources_cited(text, generation.context.get("sources") or [])
        route = generation.context.get("route") or ""
        if route == "grounded" and status == Generation.Status.DONE:
            # The model said the sources do not answer, or its answer is not in them: the
            # outcome is the no-answer reply.
            question = answer_question(generation)
            if answer_declines(text) or answer_ungrounded(generation, text, question):
                return Outcome(no_answer_text(question), route="no_answer", replaced=True)
        return Outcome(text, route=route, sources=sources)

    def partial(self, generation: Generation, text: str) -> Outcome:
        return Outcome(text, route=generation.context.get("route") or "")

    def store(self, generation: Generation, status: str, outcome: Outcome | None) -> None:
        fields: dict[str, Any] = {"status": status}
        if outcome is not None:
            fields.update(text=outcome.text, route=outcome.route, sources=outcome.sources)
        Message.objects.filter(generation=generation).update(**fields)
        if generation.message_id is not None:
            from chat.services import answer_settled  # chat.services imports this module

            message_id = generation.message_id
            transaction.on_commit(lambda: answer_settled(message_id), robust=True)

    def result(self, generation: Generation) -> Outcome:
        message = Message.objects.filter(generation=generation).first()
        if message is None:
            return Outcome("")
        return Outcome(message.text, route=message.route, sources=message.sources)


kind_register(ChatAnswer())
