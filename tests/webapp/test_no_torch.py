"""The web process never imports torch, transformers or vLLM: the transformers backend and
training live in the workers (requirements-train.txt), not in daphne."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE_MODULES = ("torch", "transformers", "vllm", "llama_cpp")
WEB_PROCESS = """
import json, sys, threading
import webapp.asgi  # Django set up, the ASGI app, its consumers and routing
from django.urls import get_resolver
from chat.engine import engines_describe
get_resolver().url_patterns  # every app's URLconf and views
engines_describe()  # what /healthz and the admin read about each task's engine
for thread in threading.enumerate():
    if thread.name == "knowledge-warm":
        thread.join(60)  # what the web process loads in the background too
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[1:]))
print(json.dumps(loaded))
"""


def test_the_web_process_imports_no_torch_or_transformers(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "webapp.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'web.sqlite3'}",
        "DATA_DIR": str(tmp_path),
        # Every task on the transformers backend: naming it must not import it.
        "INFERENCE_BACKEND": "inference.backends.transformers.TransformersBackend",
        "TRANSLATE_INFERENCE_BACKEND": "inference.backends.vllm_engine.VllmEngineBackend",
    }
    done = subprocess.run(
        [sys.executable, "-c", WEB_PROCESS, *ENGINE_MODULES],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_nothing_under_webapp_or_chat_imports_torch_or_transformers() -> None:
    pattern = re.compile(r"^\s*(?:import|from)\s+(torch|transformers|vllm)\b", re.MULTILINE)
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0).strip()}"
        for folder in ("webapp", "chat")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for match in pattern.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found == []
