"""Backends are chosen by dotted path and built once per process."""

import importlib
import threading
from typing import Any

from inference.base import Backend

_lock = threading.Lock()
_backends: dict[str, Backend] = {}


def backend_class(path: str) -> type:
    module_name, _, class_name = path.rpartition(".")
    if not module_name:
        raise ImportError(f"{path!r} is not a dotted path to a backend class")
    return getattr(importlib.import_module(module_name), class_name)  # type: ignore[no-any-return]


def backend_get(path: str, options: dict[str, Any]) -> Backend:
    """Return the process-wide backend for `path`, building it on first use."""
    with _lock:
        backend = _backends.get(path)
        if backend is None:
            backend = backend_class(path)(**options)
            _backends[path] = backend
        return backend


def backend_loaded(path: str) -> Backend | None:
    """The backend if this process has built it already, without building it."""
    return _backends.get(path)
