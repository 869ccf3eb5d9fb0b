"""The transformers backend over the packaged test model, loaded once for the run (the
contract in test_backends.py and its own tests in test_transformers.py share it)."""

import importlib.util
from typing import Any

import pytest

from inference.models import DEFAULT_MODEL_DIR

TEST_MODEL = "smollm2-135m-instruct"
N_CTX = 1024


def transformers_required() -> None:
    """Skip, naming what is missing, where the training requirements are not installed."""
    for module in ("torch", "transformers", "gguf", "accelerate"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (requirements-train.txt)")


@pytest.fixture(scope="session")
def transformers_backend() -> Any:
    transformers_required()
    from inference.backends.transformers import TransformersBackend

    return TransformersBackend(
        model=TEST_MODEL,
        model_dir=DEFAULT_MODEL_DIR,
        n_ctx=N_CTX,
        n_threads=2,
        transformers_device="cpu",
    )
