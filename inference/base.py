"""The backend protocol every inference engine implements, and the errors it may raise."""

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypedDict


class ChatMessage(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int = 512
    temperature: float = 0.2
    top_p: float = 0.9
    repeat_penalty: float = 1.1
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Delta:
    """One piece of a streamed answer; the last one of a stream carries the usage."""

    text: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None


@dataclass(frozen=True)
class Health:
    ok: bool
    model: str
    detail: str = ""
    extra: dict[str, object] = field(default_factory=dict)


class Backend(Protocol):
    """A model engine: streams a chat completion, scores candidate replies, aborts one by id,
    reports its health."""

    def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams, request_id: str
    ) -> Generator[Delta, None, None]: ...

    def score(
        self, messages: Sequence[ChatMessage], continuations: Sequence[str], request_id: str
    ) -> list[float]:
        """Log-probability (natural log, summed over its tokens) of each continuation as the
        start of the assistant's reply to `messages`: the chat template's prompt for the next
        assistant turn, then the continuation's tokens. `-inf` where a backend can only say
        that a continuation is less likely than the ones it ranks."""
        ...

    def abort(self, request_id: str) -> None: ...

    def health(self) -> Health: ...

    def count_tokens(self, text: str) -> int: ...


class BackendError(Exception):
    """Base of the errors a backend raises; `code` is what a client is shown."""

    code = "backend_error"


class RetryableBackendError(BackendError):
    """A transient failure (overload, dropped connection): the same request may succeed later."""

    code = "backend_busy"


class BackendUnavailable(BackendError):
    """The engine cannot be reached or loaded at all."""

    code = "backend_unavailable"


class InvalidRequest(BackendError):
    """The engine refused this request (too long a prompt, bad parameters): do not retry."""

    code = "invalid_request"
