"""vLLM's in-process async engine (AsyncLLM), for a dedicated GPU worker queue.

The engine lives on an event loop in a background thread; `stream` bridges its async
generator to the worker's plain iterator through a queue.
"""

import asyncio
import math
import queue
import threading
from collections.abc import Generator, Sequence
from typing import Any

from inference.base import (
    BackendUnavailable,
    ChatMessage,
    Delta,
    GenerationParams,
    Health,
    InvalidRequest,
    Usage,
)

_END = object()


class VllmEngineBackend:
    model_option = "vllm_model"  # the option that names its model (chat.engine)

    def __init__(
        self,
        *,
        vllm_model: str,
        n_ctx: int = 4096,
        vllm_gpu_memory_utilization: float = 0.85,
        **_: object,
    ) -> None:
        try:
            from vllm.engine.arg_utils import AsyncEngineArgs
            from vllm.v1.engine.async_llm import AsyncLLM
        except ImportError as exc:
            raise BackendUnavailable(f"vLLM is not installed: {exc}") from exc
        if not vllm_model:
            raise BackendUnavailable("VLLM_MODEL names no model directory")
        self.model_name = vllm_model
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="vllm-loop", daemon=True).start()
        args = AsyncEngineArgs(
            model=vllm_model,
            max_model_len=n_ctx,
            gpu_memory_utilization=vllm_gpu_memory_utilization,
        )

        async def build() -> tuple[Any, Any]:
            engine = AsyncLLM.from_engine_args(args)
            return engine, await engine.get_tokenizer()

        self._engine, self._tokenizer = self._run(build())

    def _run(self, coro: Any, timeout: float | None = None) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams, request_id: str
    ) -> Generator[Delta, None, None]:
        """Stream a chat completion rendered with the model's own chat template."""
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        prompt = self._tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=True
        )
        if self.count_tokens(prompt) + params.max_tokens > self._engine.model_config.max_model_len:
            raise InvalidRequest("the prompt and answer do not fit the model's context")
        sampling = SamplingParams(
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            repetition_penalty=params.repeat_penalty,
            seed=params.seed,
            stop=list(params.stop) or None,
            output_kind=RequestOutputKind.DELTA,
        )
        outputs: queue.Queue[Any] = queue.Queue()

        async def pump() -> None:
            try:
                async for output in self._engine.generate(prompt, sampling, request_id):
                    outputs.put(output)
            except Exception as exc:  # handed to the worker thread below
                outputs.put(exc)
            finally:
                outputs.put(_END)

        asyncio.run_coroutine_threadsafe(pump(), self._loop)
        prompt_tokens = completion = 0
        finish: str | None = None
        while (item := outputs.get()) is not _END:
            if isinstance(item, Exception):
                raise BackendUnavailable(f"vLLM engine failed: {item}") from item
            prompt_tokens = len(item.prompt_token_ids or ()) or prompt_tokens
            for completion_output in item.outputs:
                completion += len(completion_output.token_ids)
                finish = completion_output.finish_reason or finish
                if completion_output.text:
                    yield Delta(text=completion_output.text)
        yield Delta(usage=Usage(prompt_tokens, completion), finish_reason=finish)

    def score(
        self, messages: Sequence[ChatMessage], continuations: Sequence[str], request_id: str
    ) -> list[float]:
        """As the OpenAI-compatible backend scores: from the engine's top 20 log-probabilities
        of the reply's first token (one decoding step), so only single-token continuations;
        one not among the 20 scores -inf. Longer ones raise InvalidRequest."""
        from vllm import SamplingParams

        prompt = self._tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=True
        )
        if self.count_tokens(prompt) + 1 > self._engine.model_config.max_model_len:
            raise InvalidRequest("the prompt does not fit the model's context")
        pieces = [self._tokenizer.encode(c, add_special_tokens=False) for c in continuations]
        if any(len(piece) > 1 for piece in pieces):
            raise InvalidRequest("multi-token continuations need prompt log-probabilities")
        sampling = SamplingParams(max_tokens=1, temperature=0.0, logprobs=20)

        async def first_step() -> Any:
            final = None
            async for output in self._engine.generate(prompt, sampling, request_id):
                final = output
            return final

        try:
            output = self._run(first_step())
        except Exception as exc:
            raise BackendUnavailable(f"vLLM engine failed: {exc}") from exc
        top = output.outputs[0].logprobs[0]  # token id -> Logprob, the top 20 and the chosen
        scores = []
        for piece in pieces:
            if not piece:
                scores.append(0.0)  # every reply starts with the empty string
            else:
                scores.append(float(top[piece[0]].logprob) if piece[0] in top else -math.inf)
        return scores

    def abort(self, request_id: str) -> None:
        """Abort in the engine; its generator then ends and `stream` returns."""
        self._run(self._engine.abort(request_id), timeout=10)

    def health(self) -> Health:
        try:
            self._run(self._engine.check_health(), timeout=5)
        except Exception as exc:
            return Health(ok=False, model=self.model_name, detail=str(exc))
        return Health(ok=True, model=self.model_name)

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False))
