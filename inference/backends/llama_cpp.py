"""A real model on the CPU through llama.cpp: the embedded default."""

import threading
from collections.abc import Generator, Iterator, Sequence
from typing import Any, cast

from inference.base import (
    BackendUnavailable,
    ChatMessage,
    Delta,
    GenerationParams,
    Health,
    InvalidRequest,
    Usage,
)
from inference.models import ModelMissing, model_path


class LlamaCppBackend:
    """One llama.cpp model per process. It serves one generation at a time (2 cores cannot
    do better); the chat template and stop tokens come from the GGUF's own metadata."""

    def __init__(
        self,
        *,
        model: str,
        model_dir: str,
        n_ctx: int = 4096,
        n_threads: int = 2,
        **_: object,
    ) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise BackendUnavailable(f"llama-cpp-python is not installed: {exc}") from exc
        try:
            path = model_path(model, model_dir)
        except ModelMissing as exc:
            raise BackendUnavailable(str(exc)) from exc
        self.model_name = model
        self.path = path
        self.n_ctx = n_ctx
        self._llm = Llama(
            model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, n_batch=512, verbose=False
        )
        self._lock = threading.Lock()
        self._aborts: dict[str, threading.Event] = {}

    def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams, request_id: str
    ) -> Generator[Delta, None, None]:
        """Stream a chat completion; the last delta carries the usage."""
        aborted = self._aborts.setdefault(request_id, threading.Event())
        try:
            with self._lock:
                if aborted.is_set():
                    yield Delta(usage=Usage(0, 0), finish_reason="abort")
                    return
                yield from self._stream_locked(messages, params, aborted)
        finally:
            self._aborts.pop(request_id, None)

    def _stream_locked(
        self, messages: Sequence[ChatMessage], params: GenerationParams, aborted: threading.Event
    ) -> Generator[Delta, None, None]:
        try:
            chunks = self._llm.create_chat_completion(
                messages=list(messages),  # type: ignore[arg-type]
                max_tokens=params.max_tokens,
                temperature=params.temperature,
                top_p=params.top_p,
                repeat_penalty=params.repeat_penalty,
                seed=params.seed,
                stop=list(params.stop) or None,
                stream=True,
            )
        except ValueError as exc:  # llama.cpp says so when the prompt exceeds the context
            raise InvalidRequest(str(exc)) from exc
        completion = 0
        finish: str | None = None
        try:
            for chunk in cast(Iterator[dict[str, Any]], chunks):
                if aborted.is_set():
                    finish = "abort"
                    break
                choice = chunk["choices"][0]
                text = choice["delta"].get("content") or ""
                if text:
                    completion += 1
                    yield Delta(text=text)
                finish = choice.get("finish_reason") or finish
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from exc
        finally:
            chunks.close()  # type: ignore[union-attr]
        prompt_tokens = max(self._llm.n_tokens - completion, 0)
        yield Delta(usage=Usage(prompt_tokens, completion), finish_reason=finish)

    def abort(self, request_id: str) -> None:
        """Stop a running or waiting request at its next token."""
        self._aborts.setdefault(request_id, threading.Event()).set()

    def health(self) -> Health:
        return Health(
            ok=True, model=self.model_name, extra={"path": self.path.name, "n_ctx": self.n_ctx}
        )

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))
