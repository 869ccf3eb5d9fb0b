"""What the dense shortlist of large segments keeps, on real sentences (knowledge.segment).

A segment of SHORTLIST_MIN_ROWS rows or more is scanned in SHORTLIST_DIM dimensions and only
its SHORTLIST_ROWS closest rows are scored exactly. This embeds about 40k real sentences of
../shared/data (LCQMC, CLINC150, WMT22 and NTREX, Chinese and English) with the packaged
encoder, holds out queries (never rows), and compares the shortlist's top 20 rows with the
exact scan's, at the corpus's own size and at 150k rows (each sentence again with a little
noise: more near neighbours, a harder case). It also times both scans on the same rows.

`--seed` picks the held-out queries: the shipped settings were chosen with seed 0 (the
grid of `--grid`); seed 1 is the report.

    .venv/bin/python -m bench.shortlist [--seed 1] [--queries 300] [--grid]
"""

import argparse
import json
import statistics
import time
from collections.abc import Iterator

import numpy as np

from bench import ROOT, scratch_django

DATA = ROOT.parent / "shared" / "data"
SOURCES = {
    "lcqmc/lcqmc_test.jsonl": ("text_a", "text_b"),
    "clinc150/clinc150_test.jsonl": ("text",),
    "wmt22/wmt22_en-zh.jsonl": ("src", "ref"),
    "wmt22/wmt22_zh-en.jsonl": ("src", "ref"),
    "ntrex/ntrex_en-zh.jsonl": ("src", "ref"),
}
TOP = 20


def sentences() -> list[str]:
    texts: list[str] = []
    for name, keys in SOURCES.items():
        with (DATA / name).open(encoding="utf-8") as lines:
            for line in lines:
                row = json.loads(line)
                texts.extend(str(row[key]) for key in keys if row.get(key))
    return list(dict.fromkeys(texts))


def jittered(rows: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """`rows`, then noisy copies of them, up to `size` rows (unit vectors)."""
    parts, count = [rows], len(rows)
    while count < size:
        copy = rows + 0.03 * rng.standard_normal(rows.shape).astype(np.float32)
        parts.append(copy / np.linalg.norm(copy, axis=1, keepdims=True))
        count += len(copy)
    return np.ascontiguousarray(np.vstack(parts)[:size])


def kept(rows: np.ndarray, queries: np.ndarray, dim: int, take: int) -> tuple[float, float]:
    """(share of the exact top 20 rows the shortlist finds, share of exact top rows found)."""
    from knowledge.segment import _projection

    projection = _projection(rows, dim)
    reduced = rows @ projection
    recall, first = [], []
    for query in queries:
        exact = rows @ query
        top = np.argsort(-exact)[:TOP]
        shortlist = np.argpartition(-(reduced @ (query @ projection)), take - 1)[:take]
        found = shortlist[np.argsort(-exact[shortlist])[:TOP]]
        recall.append(len(set(top.tolist()) & set(found.tolist())) / TOP)
        first.append(float(top[0] == found[0]))
    return statistics.mean(recall), statistics.mean(first)


def scan_times(rows: np.ndarray, queries: np.ndarray) -> tuple[float, float]:
    """p50 ms of the exact scan and of the shortlisted one (SegmentView.dense_scores)."""
    from knowledge import segment

    n = len(rows)
    alive = np.ones(n, dtype=bool)
    unit, length = np.arange(n), np.ones(n, dtype=np.int32)
    projection = segment._projection(rows)
    view = segment.SegmentView(
        rows, alive, unit, length, n, None, n, n, 0, rows @ projection, projection
    )
    exact: list[float] = []
    shortlisted: list[float] = []
    for query in queries:
        for fn, out in ((view.cosines, exact), (view.dense_scores, shortlisted)):
            started = time.perf_counter()
            fn(query)
            out.append((time.perf_counter() - started) * 1000)
    return statistics.median(exact), statistics.median(shortlisted)


Case = tuple[str, np.ndarray, np.ndarray]  # label, rows, queries


def cases(vectors: np.ndarray, seed: int, count: int) -> Iterator[Case]:
    rng = np.random.default_rng(seed)
    held = rng.choice(len(vectors), count, replace=False)
    mask = np.ones(len(vectors), dtype=bool)
    mask[held] = False
    rows, queries = np.ascontiguousarray(vectors[mask]), vectors[held]
    yield f"{len(rows) // 1000}k real sentences", rows, queries
    yield "150k rows (the sentences, then noisy copies)", jittered(rows, 150_000, rng), queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1, help="held-out queries (0: the tuning)")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--grid", action="store_true", help="other dimensions and sizes too")
    args = parser.parse_args()
    scratch_django("shortlist")
    from knowledge import segment
    from knowledge.embeddings import embed

    shipped = (segment.SHORTLIST_DIM, segment.SHORTLIST_ROWS)
    texts = sentences()
    started = time.perf_counter()
    vectors = embed(texts)
    print(f"{len(texts)} sentences embedded in {time.perf_counter() - started:.0f} s; "
          f"{args.queries} held-out queries, seed {args.seed}")  # fmt: skip
    grid = [(d, t) for d in (64, 96, 128) for t in (1000, 2000, 4000)] if args.grid else [shipped]
    print(f"{'rows':<48}{'dims':>6}{'rows kept':>10}{'top-20 kept':>13}{'top row':>9}")
    for label, rows, queries in cases(vectors, args.seed, args.queries):
        for dim, take in grid:
            recall, first = kept(rows, queries, dim, take)
            mark = " (shipped)" if (dim, take) == shipped else ""
            print(f"{label:<48}{dim:>6}{take:>10}{recall:>13.4f}{first:>9.3f}{mark}")
        exact, shortlisted = scan_times(rows, queries)
        print(f"  scan p50: exact {exact:.2f} ms, shortlisted {shortlisted:.2f} ms "
              f"(ratio {shortlisted / exact:.2f}, same run)")  # fmt: skip


if __name__ == "__main__":
    main()
