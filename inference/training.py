"""Small trainings in the batch worker (the intent classifier, a site's query adapter).

They are a few hundred full-batch steps on matrices of a few hundred rows: on one thread
they take about a second; on two threads of a busy 2-core machine, where the chat worker's
model holds the other core, torch's threads spin waiting for each other and the same
training took two minutes (measured: 112 s against 1.0 s). So they run on one thread,
seeded, and leave the process's torch settings and random state as they found them.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def small_training(seed: int) -> Iterator[Any]:
    """torch, on one thread with its generator seeded, for the block."""
    import torch  # the worker's dependency only (requirements-train.txt)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            yield torch
    finally:
        torch.set_num_threads(threads)
