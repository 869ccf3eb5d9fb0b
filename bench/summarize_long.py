"""A long document summarized by a real batch worker that is killed mid-map and started
again: progress from the first step, no finished step lost or redone, one final result.

The document is news articles of ../shared/data/xsum joined until about `--tokens` tokens
(default 50,000, estimated: one per CJK character, one per three other characters). The
bench starts its own `celery worker` on a private queue (the database is SQLite in a
temporary folder unless DATABASE_URL is set; Redis at REDIS_URL), kills it with SIGKILL
once `--kill-after` steps are done, starts it again, and waits for the summary.

    .venv/bin/python -m bench.summarize_long [--tokens 50000] [--kill-after 2]

On two CPU cores with the default model a 50k-token document takes many minutes: keep it
out of `make test`. Prints one line per progress change and a JSON report at the end.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "xsum" / "xsum_test_sample1000.jsonl"


def document(tokens: int) -> str:
    from inference.prompt import estimate_tokens

    parts: list[str] = []
    used = 0
    for line in DATA.read_text(encoding="utf-8").splitlines():
        text = json.loads(line)["document"]
        parts.append(text)
        used += estimate_tokens(text)
        if used >= tokens:
            break
    return "\n\n".join(parts)


def worker_start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    queue = "batch" + env["CELERY_QUEUE_SUFFIX"]
    command = [
        str(ROOT / ".venv/bin/celery"), "-A", "webapp", "worker", "-l", "info", "-P", "solo",
        "-c", "1", "-Q", queue, "-n", f"bench-{os.getpid()}@%h",
    ]  # fmt: skip
    handle = log.open("ab")
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=handle, stderr=handle, start_new_session=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=50_000)
    parser.add_argument(
        "--kill-after", type=int, default=2, help="steps done before SIGKILL (0: never)"
    )
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="helpline-bench-summary-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{folder}/bench.sqlite3")
    os.environ.setdefault("REDIS_KEY_PREFIX", f"helpline-bench-summary-{os.getpid()}")
    os.environ.setdefault("CELERY_QUEUE_SUFFIX", f"-bench-summary-{os.getpid()}")
    os.environ.setdefault("DATA_DIR", str(folder))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    from chat.models import Generation, GenerationStep
    from sites.services import site_default_ensure
    from summarize.models import Summary
    from summarize.services import summary_create

    call_command("migrate", verbosity=0)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still stop the worker
    text = document(args.tokens)
    log = folder / "worker.log"
    env = {**os.environ, "INFERENCE_PRELOAD": "true"}
    worker = worker_start(env, log)
    started = time.monotonic()
    summary = summary_create(site=site_default_ensure(), text=text, kind="document")
    first_progress = None
    killed_at = restarted_at = None
    seen, status = (-1, -1), ""
    try:
        while time.monotonic() - started < args.timeout:
            time.sleep(1)
            generation = Generation.objects.get(summary=summary)
            now = (generation.progress_done, generation.progress_total)
            if now != seen or generation.status != status:
                seen, status = now, generation.status
                elapsed = time.monotonic() - started
                print(
                    f"{elapsed:7.1f} s  {now[0]} of {now[1]} steps done  ({generation.status})",
                    flush=True,
                )
                if now[0] and first_progress is None:
                    first_progress = elapsed
            if args.kill_after and killed_at is None and now[0] >= args.kill_after:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
                killed_at = time.monotonic() - started
                print(f"{killed_at:7.1f} s  worker killed (SIGKILL); starting it again", flush=True)
                worker = worker_start(env, log)
                restarted_at = time.monotonic() - started
            if generation.status in Generation.FINAL:
                break
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    summary.refresh_from_db()
    steps = list(GenerationStep.objects.filter(generation__summary=summary))
    resent = log.read_text(errors="replace").count("went quiet; sending it again")
    report = {
        "tokens_estimated": args.tokens,
        "characters": len(text),
        "status": summary.status,
        "method": summary.method,
        "steps": len(steps),
        "steps_done": sum(s.done_at is not None for s in steps),
        "levels": max((s.level for s in steps), default=0),
        "steps_sent_again": resent,
        "first_progress_s": round(first_progress or -1, 1),
        "killed_at_s": killed_at and round(killed_at, 1),
        "restarted_at_s": restarted_at and round(restarted_at, 1),
        "total_s": round(time.monotonic() - started, 1),
        "summary": summary.text,
    }
    print(json.dumps(report, ensure_ascii=False, indent=1))
    ok = summary.status == Summary.Status.DONE and report["steps_done"] == len(steps)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
