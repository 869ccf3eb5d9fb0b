"""The transformers backend beyond the shared contract (test_backends.py runs that too):
exact multi-token scores, the same answers as llama.cpp from the same GGUF, a reader that
goes away, stop strings, device and dtype; and a Hugging Face folder (a tiny random Llama)
on TRANSFORMERS_TEST_DEVICE, the contract a GPU runs in bf16 (bench/gpu_contract.sh).
"""

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inference.base import BackendUnavailable, ChatMessage, GenerationParams, InvalidRequest
from inference.models import DEFAULT_MODEL_DIR
from tests.inference.conftest import N_CTX, transformers_required

COUNTING: list[ChatMessage] = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Count from 1 to 200, one number per line."},
]
FRANCE: list[ChatMessage] = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the capital of France? Reply with one word."},
]
GREEDY = GenerationParams(max_tokens=24, temperature=0.0, seed=1)


def text_of(backend: Any, messages: list[ChatMessage], params: GenerationParams, rid: str) -> str:
    return "".join(d.text for d in backend.stream(messages, params, rid))


def reference_logprob(backend: Any, messages: list[ChatMessage], text: str) -> float:
    """The slow, obvious way: one forward pass over prompt + continuation, no cache."""
    import torch

    prompt = backend.prompt_ids(messages)
    tokens = backend._tokenizer.encode(text, add_special_tokens=False)
    ids = torch.tensor([prompt + tokens], device=backend.device)
    with torch.inference_mode():
        logits = backend._model(ids).logits[0].float()
    rows = torch.log_softmax(logits[len(prompt) - 1 : len(prompt) + len(tokens) - 1], dim=-1)
    return sum(float(rows[i, t]) for i, t in enumerate(tokens))


# --- the packaged GGUF (SmolLM2 135M) on the CPU ------------------------------------------


def test_transformers_scores_several_tokens_exactly(transformers_backend: Any) -> None:
    continuations = ["The capital of France", "Paris.", "The", "Germany"]
    scores = transformers_backend.score(FRANCE, continuations, "t-multi")
    expected = [reference_logprob(transformers_backend, FRANCE, c) for c in continuations]
    assert scores == pytest.approx(expected, abs=1e-3)
    assert transformers_backend.score(FRANCE, continuations, "t-again") == scores


def test_transformers_answers_and_scores_as_llama_cpp_does_from_the_same_gguf(
    transformers_backend: Any,
) -> None:
    from inference.backends.llama_cpp import LlamaCppBackend

    llama = LlamaCppBackend(model="smollm2-135m-instruct", model_dir=DEFAULT_MODEL_DIR, n_ctx=N_CTX)
    ours = text_of(transformers_backend, FRANCE, GREEDY, "t-paris")
    theirs = text_of(llama, FRANCE, GREEDY, "l-paris")
    assert "Paris" in ours and "Paris" in theirs
    candidates = ["Paris", "The", "France"]
    # llama.cpp multiplies with the quantized blocks, transformers with their float32 copy.
    assert transformers_backend.score(FRANCE, candidates, "t-s") == pytest.approx(
        llama.score(FRANCE, candidates, "l-s"), abs=0.3
    )


def test_transformers_a_reader_that_goes_away_frees_the_engine(transformers_backend: Any) -> None:
    stream = transformers_backend.stream(COUNTING, GenerationParams(max_tokens=300), "t-gone")
    assert next(stream).text and next(stream).text
    stream.close()  # a consumer that stops reading: the generation thread is stopped
    assert not transformers_backend._aborts
    again = list(transformers_backend.stream(COUNTING, GenerationParams(max_tokens=3), "t-next"))
    assert again[-1].usage is not None and again[-1].usage.completion_tokens == 3


def test_transformers_a_request_aborted_before_it_starts_generates_nothing(
    transformers_backend: Any,
) -> None:
    transformers_backend.abort("t-early")
    deltas = list(transformers_backend.stream(COUNTING, GREEDY, "t-early"))
    assert [d.finish_reason for d in deltas] == ["abort"]
    assert deltas[0].usage is not None and deltas[0].usage.completion_tokens == 0


def test_transformers_ends_before_a_stop_string(transformers_backend: Any) -> None:
    whole = text_of(transformers_backend, COUNTING, GREEDY, "t-whole")
    words = whole.split()
    assert len(words) > 4
    stop = f" {words[3]}"
    deltas = list(transformers_backend.stream(COUNTING, GenerationParams(
        max_tokens=24, temperature=0.0, seed=1, stop=(stop,)), "t-stop"))  # fmt: skip
    assert "".join(d.text for d in deltas) == whole[: whole.index(stop)]
    assert deltas[-1].finish_reason == "stop"


@pytest.mark.parametrize(
    ("text", "stops", "expected"),
    [
        ("one two three", ("two",), (4, True)),
        ("one tw", ("two",), (4, False)),  # "tw" may begin "two": held back
        ("one t", ("two", "ta"), (4, False)),
        ("one two", (), (7, False)),
        ("x", ("",), (1, False)),
    ],
)
def test_transformers_stop_cut(text: str, stops: tuple[str, ...], expected: Any) -> None:
    from inference.backends.transformers import stop_cut

    assert stop_cut(text, stops) == expected


def test_transformers_dtype_follows_the_device(transformers_backend: Any) -> None:
    from inference.backends.transformers import TransformersBackend

    health = transformers_backend.health()
    assert health.ok and health.extra["device"] == "cpu" and health.extra["dtype"] == "float32"
    assert TransformersBackend._dtype("auto", "cuda") == "bfloat16"
    assert TransformersBackend._dtype("auto", "cuda:1") == "bfloat16"
    assert TransformersBackend._dtype("float16", "cuda") == "float16"
    with pytest.raises(BackendUnavailable, match="dtype"):
        TransformersBackend._dtype("int3", "cpu")


def test_transformers_refuses_what_it_cannot_load(tmp_path: Path) -> None:
    transformers_required()
    import torch

    from inference.backends.transformers import TransformersBackend

    with pytest.raises(BackendUnavailable, match="neither a known model nor a file"):
        TransformersBackend(model=str(tmp_path / "missing"), model_dir=str(tmp_path))
    with pytest.raises(BackendUnavailable, match=r"config\.json"):
        TransformersBackend(model=str(tmp_path), model_dir=str(tmp_path))
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailable, match="CUDA"):
            TransformersBackend._device("cuda")


# --- a Hugging Face folder on TRANSFORMERS_TEST_DEVICE (the GPU contract) ----------------


@pytest.fixture(scope="module")
def tiny_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    transformers_required()
    from inference.backends.transformers import TransformersBackend
    from tests.inference.tiny_model import tiny_model_build

    folder = tiny_model_build(tmp_path_factory.mktemp("tiny") / "tiny-llama")
    device = os.environ.get("TRANSFORMERS_TEST_DEVICE", "cpu")
    yield TransformersBackend(
        model=str(folder), n_ctx=N_CTX, n_threads=2, transformers_device=device
    )


def test_transformers_folder_streams_then_usage_on_its_device(tiny_backend: Any) -> None:
    deltas = list(tiny_backend.stream(COUNTING, GenerationParams(max_tokens=40, seed=1), "f-1"))
    assert len(deltas) > 5 and all(d.text for d in deltas[:-1])
    final = deltas[-1]
    assert final.text == "" and final.usage is not None and final.finish_reason == "length"
    assert final.usage.completion_tokens == 40
    assert final.usage.prompt_tokens == len(tiny_backend.prompt_ids(COUNTING))
    health = tiny_backend.health()
    expected = "bfloat16" if health.extra["device"].startswith("cuda") else "float32"
    assert health.ok and health.extra["dtype"] == expected


def test_transformers_folder_aborts_mid_stream_then_serves_the_next(tiny_backend: Any) -> None:
    deltas = []
    for delta in tiny_backend.stream(COUNTING, GenerationParams(max_tokens=300), "f-abort"):
        deltas.append(delta)
        if len(deltas) == 5:
            tiny_backend.abort("f-abort")
    assert len(deltas) < 20 and deltas[-1].finish_reason == "abort"
    assert deltas[-1].usage is not None and deltas[-1].usage.completion_tokens < 20
    again = list(tiny_backend.stream(COUNTING, GenerationParams(max_tokens=5), "f-after"))
    assert again[-1].usage is not None and again[-1].usage.completion_tokens == 5


def test_transformers_folder_refuses_an_over_long_prompt(tiny_backend: Any) -> None:
    huge: list[ChatMessage] = [{"role": "user", "content": "word " * (N_CTX * 2)}]
    with pytest.raises(InvalidRequest):
        list(tiny_backend.stream(huge, GenerationParams(max_tokens=5), "f-huge"))
    with pytest.raises(InvalidRequest):
        tiny_backend.score(huge, ["1"], "f-huge-score")


def test_transformers_folder_scores_exactly(tiny_backend: Any) -> None:
    continuations = ["paris", "the capital of france", "one two three four", ""]
    scores = tiny_backend.score(FRANCE, continuations, "f-score")
    assert scores[-1] == 0.0 and all(math.isfinite(s) and s < 0 for s in scores[:-1])
    # bf16 on a GPU: the cached and the uncached passes round differently.
    tolerance = 1e-3 if tiny_backend.dtype == "float32" else 0.25
    expected = [reference_logprob(tiny_backend, FRANCE, c) for c in continuations[:-1]]
    assert scores[:-1] == pytest.approx(expected, abs=tolerance)
