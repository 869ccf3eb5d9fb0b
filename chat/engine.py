"""The configured inference backend of each task, built lazily once per worker process.

Every task uses INFERENCE_BACKEND and INFERENCE_OPTIONS unless the settings name its own:
`<TASK>_INFERENCE_BACKEND` (a dotted path) and `<TASK>_INFERENCE_MODEL` (the packaged model
or served model name), for the tasks "summarize" and "translate" (the kinds' `task`), so
that, for example, translations go to a bigger model on a GPU server while the chat runs
the local one. A task without its own settings shares the chat's backend and its memory.
"""

from typing import Any

from django.conf import settings

from inference.base import Backend
from inference.registry import backend_get


def engine_backend(task: str = "chat") -> Backend:
    path, options = task_engine(task)
    return backend_get(path, options)


def task_engine(task: str) -> tuple[str, dict[str, Any]]:
    """(backend path, options) of a task."""
    own = settings.INFERENCE_TASKS.get(task, {})
    options = dict(settings.INFERENCE_OPTIONS)
    if own.get("model"):
        options["model"] = own["model"]
        options["served_model"] = own["model"]
    return own.get("backend") or settings.INFERENCE_BACKEND, options
