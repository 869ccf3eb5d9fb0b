"""A real model on the CPU through llama.cpp: the embedded default."""

import threading
from collections.abc import Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

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

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter


def state_cache(capacity_bytes: int) -> Any:
    """llama-cpp-python's RAM cache of prompt states, held to `capacity_bytes` for real.

    Its own cache counts only the KV bytes of a state (about 28 KB a token with the default
    model), while each state also carries the logits of every prompt token (the vocabulary's
    151,936 floats: 600 KB a token): 1 GB of "capacity" grew a worker past 14 GB. A state
    only ever continues from its last token, so only that row is kept (load_state spreads
    it over the rows before, which nothing reads), and the size counted is what is held."""
    from llama_cpp import LlamaRAMCache

    class StateCache(LlamaRAMCache):  # type: ignore[misc]
        @property
        def cache_size(self) -> int:
            return sum(
                state.llama_state_size + state.scores.nbytes + state.input_ids.nbytes
                for state in self.cache_state.values()
            )

        def __setitem__(self, key: Any, value: Any) -> None:
            if len(value.scores) > 1:
                value.scores = value.scores[-1:].copy()
            super().__setitem__(key, value)

    return StateCache(capacity_bytes=capacity_bytes)


class LlamaCppBackend:
    """One llama.cpp model per process. It serves one generation (or score) at a time (2
    cores cannot do better); the chat template and stop tokens come from the GGUF's own
    metadata, and `stream` and `score` render prompts with the same formatter."""

    model_option = "model"  # the option that names its model (chat.engine)

    def __init__(
        self,
        *,
        model: str,
        model_dir: str,
        n_ctx: int = 4096,
        n_threads: int = 2,
        state_cache_mb: int = 0,
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
        if state_cache_mb > 0:
            # Evaluated prompts kept by token prefix: a question about the same FAQ later,
            # after other prompts took the KV cache, starts from its saved state.
            self._llm.set_cache(state_cache(state_cache_mb << 20))
        self._formatter = self._gguf_chat_formatter()
        if self._formatter is not None:  # so `stream` renders exactly what `score` renders
            self._llm.chat_handler = self._formatter.to_chat_handler()
        self._lock = threading.Lock()
        self._aborts: dict[str, threading.Event] = {}

    def _gguf_chat_formatter(self) -> "Jinja2ChatFormatter | None":
        """The GGUF's chat template, built as llama-cpp-python builds its default handler."""
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self._llm.metadata.get("tokenizer.chat_template")
        if template is None:
            return None
        vocab = llama_cpp.llama_model_get_vocab(self._llm.model)

        def text(token: int) -> str:
            return "" if token == -1 else llama_cpp.llama_vocab_get_text(vocab, token).decode()

        eos, bos = self._llm.token_eos(), self._llm.token_bos()
        return Jinja2ChatFormatter(
            template=template, eos_token=text(eos), bos_token=text(bos), stop_token_ids=[eos]
        )

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

    def score(
        self, messages: Sequence[ChatMessage], continuations: Sequence[str], request_id: str
    ) -> list[float]:
        """Exact log-probabilities. The prompt is evaluated once, reusing the cached prefix as
        `stream` does, then each continuation token by token after it; the cache is left
        consistent, so a later `stream` of a prompt with the same beginning starts from it."""
        if self._formatter is None:
            raise InvalidRequest(f"{self.path.name} has no chat template to score replies with")
        rendered = self._formatter(messages=list(messages))  # type: ignore[arg-type]
        prompt = self._llm.tokenize(
            rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
        )
        pieces = [
            self._llm.tokenize(c.encode("utf-8"), add_bos=False, special=False)
            for c in continuations
        ]
        if len(prompt) + max(map(len, pieces), default=0) > self.n_ctx:
            raise InvalidRequest(
                f"the prompt ({len(prompt)} tokens) and its continuations do not fit "
                f"the context of {self.n_ctx} tokens"
            )
        with self._lock:
            try:
                return self._score_locked(prompt, pieces)
            except BaseException:
                self._llm.reset()  # the cache bookkeeping may be half updated
                raise

    def _score_locked(self, prompt: list[int], pieces: list[list[int]]) -> list[float]:
        self._state_restore(prompt)
        self._eval_cached(prompt)
        after_prompt = self._last_logprobs()
        if self._llm.cache is not None:
            self._llm.cache[prompt] = self._llm.save_state()
        scores = []
        for piece in pieces:
            logprobs, total = after_prompt, 0.0
            for i, token in enumerate(piece):
                if i:
                    self._eval_cached(prompt + piece[:i])
                    logprobs = self._last_logprobs()
                total += float(logprobs[token])
            scores.append(total)
        return scores

    def _state_restore(self, prompt: list[int]) -> None:
        """Load the saved state sharing the longest prefix with `prompt`, when it shares more
        than the KV cache does (what llama-cpp-python's own completion does with its cache)."""
        import llama_cpp

        llm = self._llm
        if llm.cache is None:
            return
        try:
            saved = llm.cache[prompt]
        except KeyError:
            return
        current = llm.input_ids[: llm.n_tokens].tolist()
        if llama_cpp.Llama.longest_token_prefix(
            saved.input_ids.tolist(), prompt
        ) > llama_cpp.Llama.longest_token_prefix(current, prompt):
            llm.load_state(saved)

    def _eval_cached(self, tokens: list[int]) -> None:
        """Evaluate `tokens` as llama-cpp-python's `generate` does: keep the longest prefix
        already in the KV cache, and evaluate at least the last token so its logits are fresh."""
        import llama_cpp

        llm = self._llm
        cached = llm.input_ids[: llm.n_tokens].tolist()
        keep = min(llama_cpp.Llama.longest_token_prefix(cached, tokens), len(tokens) - 1)
        if not llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(llm.ctx), -1, keep, -1):
            keep = 0  # a recurrent model cannot drop a suffix of its state: start over
            llm.reset()
        llm.n_tokens = keep
        llm.eval(tokens[keep:])

    def _last_logprobs(self) -> "npt.NDArray[np.single]":
        """Log-softmax of the logits after the last evaluated token (the only ones kept)."""
        import llama_cpp
        import numpy as np

        logits = llama_cpp.llama_get_logits_ith(self._llm.ctx, -1)
        return llama_cpp.Llama.logits_to_logprobs(
            np.ctypeslib.as_array(logits, shape=(self._llm.n_vocab(),))
        )

    def abort(self, request_id: str) -> None:
        """Stop a running or waiting request at its next token."""
        self._aborts.setdefault(request_id, threading.Event()).set()

    def health(self) -> Health:
        return Health(
            ok=True, model=self.model_name, extra={"path": self.path.name, "n_ctx": self.n_ctx}
        )

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))
