"""A Hugging Face model through transformers, on CUDA or the CPU: a fine-tuned checkpoint's
folder, or a GGUF file that transformers can load (dequantized into torch tensors).

Generation runs in a thread and its text reaches `stream` through a TextIteratorStreamer;
an abort is a stopping criterion that the next token sees. The chat template and the stop
tokens come from the tokenizer. Weights are read from disk only (`local_files_only`).
"""

import contextlib
import copy
import inspect
import math
import threading
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inference.base import (
    BackendError,
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
    import torch

# Turn-ending tokens of common chat templates, used when the tokenizer knows them as
# special tokens (a GGUF's eos is often the end of the text, not of the assistant's turn).
TURN_END_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>")
DTYPES = ("bfloat16", "float16", "float32")


def model_source(model: str, model_dir: str) -> tuple[Path, str]:
    """(folder, gguf file name or "") of a Hugging Face folder, a GGUF path or a packaged
    model's name."""
    path = Path(model)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelMissing(f"{model!r} is a folder without a config.json")
        return path, ""
    gguf = model_path(model, model_dir)
    return gguf.parent, gguf.name


def stop_cut(text: str, stops: Sequence[str]) -> tuple[int, bool]:
    """How much of `text` may be shown: up to the first stop string (True), or else all but
    a tail that could be the start of one."""
    hits = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    if hits:
        return min(hits), True
    held = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:n]):
                held = max(held, n)
                break
    return len(text) - held, False


class TransformersBackend:
    """One model per process, loaded at construction. `transformers_concurrency` generations
    (or scores) run at once, each its own `generate` call (no batching across requests:
    vLLM does that); 1 on a CPU, where they would only share the same cores."""

    model_option = "model"  # the option that names its model (chat.engine)

    def __init__(
        self,
        *,
        model: str,
        model_dir: str = "",
        n_ctx: int = 4096,
        n_threads: int = 0,
        transformers_device: str = "auto",
        transformers_dtype: str = "auto",
        transformers_concurrency: int = 1,
        **_: object,
    ) -> None:
        try:
            import torch
            import transformers  # noqa: F401  (loaded by _load)
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise BackendUnavailable(f"torch and transformers are not installed: {exc}") from exc
        try:
            folder, gguf_file = model_source(model, model_dir)
        except ModelMissing as exc:
            raise BackendUnavailable(str(exc)) from exc
        self.device = self._device(transformers_device)
        self.dtype = self._dtype(transformers_dtype, self.device)
        if self.device.startswith("cpu") and n_threads > 0:
            torch.set_num_threads(n_threads)
        self._load(model, folder, gguf_file)
        if not getattr(self._tokenizer, "chat_template", None):
            raise BackendUnavailable(f"{model!r} has no chat template in its tokenizer")
        # A path is named by its last part (health reaches /healthz).
        self.model_name = Path(model).name if Path(model).exists() else model
        self.source = gguf_file or folder.name
        limit = getattr(self._model.config, "max_position_embeddings", None) or n_ctx
        self.n_ctx = min(n_ctx, int(limit))
        self._stop_ids = self._turn_end_ids()
        self._slots = threading.BoundedSemaphore(max(1, transformers_concurrency))
        self._aborts: dict[str, threading.Event] = {}

    def _load(self, model: str, folder: Path, gguf_file: str) -> None:
        """The tokenizer and the model, from disk only, onto the device."""
        import torch
        import transformers

        transformers.utils.logging.disable_progress_bar()
        load: dict[str, Any] = {"local_files_only": True}
        if gguf_file:
            load["gguf_file"] = gguf_file
        auto_model: Any = transformers.AutoModelForCausalLM  # its annotations lag its API
        try:
            self._tokenizer: Any = transformers.AutoTokenizer.from_pretrained(str(folder), **load)
            self._model: Any = auto_model.from_pretrained(
                str(folder), dtype=getattr(torch, self.dtype), **load
            )
        except (OSError, ValueError) as exc:
            raise BackendUnavailable(f"transformers cannot load {model!r}: {exc}") from exc
        self._model.to(self.device).eval()
        # The key-value cache's argument: `cache` in transformers 5.24 (pinned here),
        # `past_key_values` in the older 5.x that vLLM pins (the gpu image).
        forward = inspect.signature(self._model.forward).parameters
        self._cache_name = "cache" if "cache" in forward else "past_key_values"

    @staticmethod
    def _device(requested: str) -> str:
        import torch

        if requested == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailable(f"device {requested!r} asked for, but CUDA is not available")
        return requested

    @staticmethod
    def _dtype(requested: str, device: str) -> str:
        if requested == "auto":
            return "bfloat16" if device.startswith("cuda") else "float32"
        if requested not in DTYPES:
            raise BackendUnavailable(f"dtype {requested!r} is not one of {', '.join(DTYPES)}")
        return requested

    def _turn_end_ids(self) -> list[int]:
        """The generation config's and tokenizer's eos, and the template's turn end."""
        tokenizer = self._tokenizer
        configured = self._model.generation_config.eos_token_id
        ids = set(configured if isinstance(configured, list) else [configured])
        ids.add(tokenizer.eos_token_id)
        special = set(tokenizer.all_special_tokens) | {
            str(t) for t in tokenizer.added_tokens_decoder.values() if t.special
        }
        ids.update(tokenizer.convert_tokens_to_ids(t) for t in TURN_END_TOKENS if t in special)
        return sorted(i for i in ids if isinstance(i, int) and i >= 0)

    def prompt_ids(self, messages: Sequence[ChatMessage]) -> list[int]:
        """The chat template's prompt for the next assistant turn, as token ids."""
        text = self._tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=True
        )
        return list(self._tokenizer.encode(text, add_special_tokens=False))

    def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams, request_id: str
    ) -> Generator[Delta, None, None]:
        """Stream a chat completion; the last delta carries the usage."""
        prompt = self.prompt_ids(messages)
        if len(prompt) >= self.n_ctx:
            raise InvalidRequest(
                f"the prompt ({len(prompt)} tokens) does not fit the context of {self.n_ctx}"
            )
        aborted = self._aborts.setdefault(request_id, threading.Event())
        try:
            with self._slots:
                if aborted.is_set():
                    yield Delta(usage=Usage(0, 0), finish_reason="abort")
                    return
                yield from self._stream_held(prompt, params, aborted)
        finally:
            self._aborts.pop(request_id, None)

    def _stream_held(
        self, prompt: list[int], params: GenerationParams, aborted: threading.Event
    ) -> Generator[Delta, None, None]:
        from transformers import TextIteratorStreamer

        streamer = TextIteratorStreamer(
            self._tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600
        )
        result: dict[str, Any] = {}
        worker = threading.Thread(
            target=self._generate,
            args=(prompt, params, streamer, aborted, result),
            name="transformers-generate",
            daemon=True,
        )
        worker.start()
        shown, text, stopped, read_all = 0, "", False, False
        try:
            for piece in streamer:
                text += piece
                end, stopped = stop_cut(text, params.stop)
                if end > shown:
                    yield Delta(text=text[shown:end])
                    shown = end
                if stopped or aborted.is_set():
                    break
            else:
                read_all = True
        finally:
            if not read_all:  # a stop string, an abort, or the reader went away
                aborted.set()
                self._drain(streamer)
            worker.join()
        if "error" in result:
            raise result["error"]
        if not stopped and not aborted.is_set() and shown < len(text):
            yield Delta(text=text[shown:])
        yield Delta(
            usage=Usage(len(prompt), len(result.get("tokens", ()))),
            finish_reason=self._finish(result, stopped, aborted),
        )

    @staticmethod
    def _drain(streamer: Any) -> None:
        """Read the streamer to its end, which the generation thread puts there when the
        stopping criterion has stopped it."""
        with contextlib.suppress(Exception):
            for _ in streamer:
                pass

    def _finish(self, result: dict[str, Any], stopped: bool, aborted: threading.Event) -> str:
        if stopped:
            return "stop"
        if aborted.is_set():
            return "abort"
        tokens = result.get("tokens", [])
        if tokens and tokens[-1] in self._stop_ids:
            return "stop"
        return "length"

    def _generate(
        self,
        prompt: list[int],
        params: GenerationParams,
        streamer: Any,
        aborted: threading.Event,
        result: dict[str, Any],
    ) -> None:
        """The generation thread: `generate` feeds the streamer; the new token ids, or the
        error, go to `result`."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        class Aborted(StoppingCriteria):  # type: ignore[misc]
            def __call__(self, input_ids: "torch.Tensor", scores: Any, **_: Any) -> Any:
                done = aborted.is_set()
                return torch.full((input_ids.shape[0],), done, device=input_ids.device)

        max_new = min(params.max_tokens, self.n_ctx - len(prompt))
        sampling: dict[str, Any] = {"do_sample": params.temperature > 0}
        if params.temperature > 0:
            sampling.update(temperature=params.temperature, top_p=params.top_p, top_k=0)
        try:
            with torch.inference_mode():
                if params.seed is not None:
                    torch.manual_seed(params.seed)
                inputs = torch.tensor([prompt], device=self.device)
                output = self._model.generate(
                    input_ids=inputs,
                    attention_mask=torch.ones_like(inputs),
                    max_new_tokens=max_new,
                    repetition_penalty=params.repeat_penalty,
                    eos_token_id=self._stop_ids,
                    pad_token_id=self._stop_ids[0] if self._stop_ids else None,
                    stopping_criteria=StoppingCriteriaList([Aborted()]),
                    streamer=streamer,
                    **sampling,
                )
            result["tokens"] = output[0, len(prompt) :].tolist()
        except Exception as exc:  # handed to the reading thread
            result["error"] = BackendError(f"generation failed: {exc}")
            streamer.end()

    def score(
        self, messages: Sequence[ChatMessage], continuations: Sequence[str], request_id: str
    ) -> list[float]:
        """Exact log-probabilities: the prompt is evaluated once, then each continuation of
        several tokens after a copy of the prompt's cache."""
        prompt = self.prompt_ids(messages)
        pieces = [list(self._tokenizer.encode(c, add_special_tokens=False)) for c in continuations]
        if len(prompt) + max(map(len, pieces), default=0) > self.n_ctx:
            raise InvalidRequest(
                f"the prompt ({len(prompt)} tokens) and its continuations do not fit "
                f"the context of {self.n_ctx} tokens"
            )
        with self._slots:
            return self._score_held(prompt, pieces)

    def _score_held(self, prompt: list[int], pieces: list[list[int]]) -> list[float]:
        import torch

        with torch.inference_mode():
            out = self._model(torch.tensor([prompt], device=self.device), use_cache=True)
            after_prompt = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
            scores = []
            for piece in pieces:
                if not piece:
                    scores.append(0.0)  # every reply starts with the empty string
                    continue
                rows = [after_prompt]
                if len(piece) > 1:
                    prompt_cache = copy.deepcopy(getattr(out, self._cache_name))  # kept
                    rest = self._model(
                        torch.tensor([piece[:-1]], device=self.device),
                        use_cache=True,
                        **{self._cache_name: prompt_cache},
                    )
                    rows.extend(torch.log_softmax(rest.logits[0].float(), dim=-1))
                total = sum(float(row[token]) for row, token in zip(rows, piece, strict=True))
                scores.append(total if math.isfinite(total) else -math.inf)
        return scores

    def abort(self, request_id: str) -> None:
        """Stop a running or waiting request at its next token."""
        self._aborts.setdefault(request_id, threading.Event()).set()

    def health(self) -> Health:
        return Health(
            ok=True,
            model=self.model_name,
            extra={
                "path": self.source,
                "device": self.device,
                "dtype": self.dtype,
                "n_ctx": self.n_ctx,
            },
        )

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False))
