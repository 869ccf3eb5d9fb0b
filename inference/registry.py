"""Backends are chosen by dotted path and built once per process."""

import importlib
import threading
from typing import Any

from inference.base import Backend

_lock = threading.Lock()
_backends: dict[tuple[str, str], Backend] = {}


def backend_class(path: str) -> type:
    module_name, _, class_name = path.rpartition(".")
    if not module_name:
        raise ImportError(f"{path!r} is not a dotted path to a backend class")
    return getattr(importlib.import_module(module_name), class_name)  # type: ignore[no-any-return]


def backend_get(path: str, options: dict[str, Any]) -> Backend:
    """Return the process-wide backend for `path` and `options`, building it on first use."""
    key = (path, repr(sorted(options.items())))
    with _lock:
        backend = _backends.get(key)
        if backend is None:
            backend = backend_class(path)(**options)
            _backends[key] = backend
        return backend


def backend_loaded(path: str) -> Backend | None:
    """A backend of `path` this process has built already, without building one."""
    return next((b for (p, _), b in _backends.items() if p == path), None)
