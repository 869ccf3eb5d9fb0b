"""The configured inference backend, built lazily once per worker process."""

from django.conf import settings

from inference.base import Backend
from inference.registry import backend_get


def engine_backend() -> Backend:
    return backend_get(settings.INFERENCE_BACKEND, settings.INFERENCE_OPTIONS)
