"""The configured inference backend of each task, built lazily once per worker process.

Every task uses INFERENCE_BACKEND and INFERENCE_OPTIONS unless the settings name its own:
`<TASK>_INFERENCE_BACKEND` (a dotted path) and `<TASK>_INFERENCE_MODEL` (the packaged model,
model folder or served model name), for the tasks "check" (the grounded answer's source
check), "summarize" and "translate" (the kinds' `task`), so that, for example, translations
go to a bigger model on a GPU server while the chat runs the local one. A task without its
own settings shares the chat's backend and its memory.

Only names are read here: a backend's module is imported (to read which option names its
model) but never built in the web process, which imports no torch.
"""

from typing import Any

from django.conf import settings

from inference.base import Backend
from inference.registry import backend_class, backend_get

TASKS = ("chat", "check", "summarize", "translate")
# The option a task's own model is written into, whichever backend reads which.
MODEL_OPTIONS = ("model", "served_model", "vllm_model")


def engine_backend(task: str = "chat") -> Backend:
    path, options = task_engine(task)
    return backend_get(path, options)


def task_own(task: str) -> dict[str, str]:
    """The task's own backend and model settings, blank where it shares the chat's."""
    own = settings.INFERENCE_TASKS.get(task, {}) if task != "chat" else {}
    return {"backend": own.get("backend") or "", "model": own.get("model") or ""}


def task_engine(task: str) -> tuple[str, dict[str, Any]]:
    """(backend path, options) of a task."""
    own = task_own(task)
    options = dict(settings.INFERENCE_OPTIONS)
    if own["model"]:
        options.update(dict.fromkeys(MODEL_OPTIONS, own["model"]))
    return own["backend"] or settings.INFERENCE_BACKEND, options


def task_shares_chat_engine(task: str) -> bool:
    return task_engine(task) == task_engine("chat")


def engines_describe() -> dict[str, dict[str, str]]:
    """Which backend and model serve each task: {task: {backend, model, shared}}, where
    `shared` says the task uses the chat's engine (one model in memory for both)."""
    described = {}
    for task in TASKS:
        path, options = task_engine(task)
        try:
            option = getattr(backend_class(path), "model_option", "model")
            # A folder or file is named by its last part (/healthz is public).
            model, known = str(options.get(option) or "").rstrip("/").rpartition("/")[2], True
        except (ImportError, AttributeError):
            model, known = "", False
        described[task] = {
            "backend": path.rpartition(".")[2] if known else path,
            "model": model,
            "shared": "chat" if task != "chat" and task_shares_chat_engine(task) else "",
            "state": "configured" if known else "unknown_backend",
        }
    return described


def engines_health(redis_ok: bool) -> dict[str, dict[str, object]]:
    """The /healthz part (webapp.registry): each task's engine by name; not ok when a
    task names a backend that does not import."""
    tasks = engines_describe()
    return {
        "engines": {
            "ok": all(t["state"] == "configured" for t in tasks.values()),
            "tasks": {
                name: {"backend": t["backend"], "model": t["model"], "shared": t["shared"]}
                for name, t in tasks.items()
            },
        }
    }
