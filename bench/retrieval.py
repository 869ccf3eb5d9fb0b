"""Knowledge retrieval at the target size: one site with 10k FAQs and 100k passages.

Creates a throwaway Postgres database (migrated), writes the rows straight to it with COPY
(random unit vectors; texts drawn from a small English + Chinese vocabulary), loads the
site's index, and times 200 searches: the query embedding (the real encoder) apart from
dense + BM25 + scoring. Then it adds 100 passages and times the incremental refresh, by the
logged document id and by the signature diff, and the refresh after 10 edited FAQs.
Drops the database and its Redis keys at the end.

    .venv/bin/python -m bench.retrieval
    .venv/bin/python -m bench.retrieval --faqs 1000 --passages 10000 --queries 50
"""

import argparse
import os
import random
import resource
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import psycopg

_ENGLISH = (
    "order refund return shipping delivery account password invoice payment card price "
    "discount coupon warranty repair battery screen charger cable device app update login "
    "email address phone subscription plan cancel upgrade store pickup parcel tracking "
    "customs tax receipt size color stock gift voucher membership points support agent "
    "manual install reset error network wifi bluetooth speaker camera photo storage cloud "
    "backup sync privacy data delete export language region holiday hours weekend"
)
ENGLISH = _ENGLISH.split()
_CHINESE = (
    "订单 退款 退货 快递 配送 账户 密码 发票 付款 银行卡 价格 折扣 优惠券 保修 维修 电池 "
    "屏幕 充电器 数据线 设备 应用 更新 登录 邮箱 地址 手机 订阅 套餐 取消 升级 门店 自提 "
    "包裹 物流 海关 税费 收据 尺码 颜色 库存 礼品卡 会员 积分 客服 说明书 安装 重置 错误 "
    "网络 蓝牙 音箱 相机 照片 存储 云端 备份 同步 隐私 数据 删除 导出 语言 地区 节假日 周末"
)
CHINESE = _CHINESE.split()
REALISTIC_EN = (
    "To return an item, open your order history, choose the order and select Return. "
    "Pack the item in its original box with all accessories, print the prepaid label and "
    "drop the parcel at any post office within 30 days of delivery. Refunds reach the "
    "original payment method within five working days after the warehouse checks the item. "
)
REALISTIC_ZH = (
    "如需退货，请在订单历史中选择相应订单并点击退货。请将商品连同全部配件放回原包装，打印预付运单，"
    "并在签收后三十天内交至任意邮局。仓库检验商品后，退款将在五个工作日内原路退回。"
    "如商品存在质量问题，运费由我们承担；如因个人原因退货，运费需自理。"
)


def sentence(rng: random.Random, words: int) -> str:
    """Mixed text: English words and Chinese words in short runs, as real content mixes them."""
    parts: list[str] = []
    while len(parts) < words:
        if rng.random() < 0.5:
            parts.append(" ".join(rng.choices(ENGLISH, k=3)))
        else:
            parts.append("".join(rng.choices(CHINESE, k=3)))
    return " ".join(parts)


def unit_vectors(rng: np.random.Generator, count: int) -> np.ndarray:
    vectors = rng.standard_normal((count, 512)).astype(np.float32)
    return np.asarray(vectors / np.linalg.norm(vectors, axis=1, keepdims=True), dtype=np.float32)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    value = fn(*args)
    return value, (time.perf_counter() - started) * 1000


@contextmanager
def throwaway_database(admin_url: str) -> Iterator[str]:
    name = f"helpline_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def copy_rows(table: str, columns: str, rows: Iterator[tuple[Any, ...]]) -> None:
    from django.db import connection

    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


ROWS_PER_FAQ = 5  # three phrasings, two answer pieces


def site_fill(site_id: int, faqs: int, passages: int, seed: int = 7) -> None:
    """FAQs with two alternative phrasings and an answer of two pieces each, and passages in
    documents of 100."""
    from knowledge.models import Document, FaqEntry
    from knowledge.text import tokens_stored

    rng, nprng = random.Random(seed), np.random.default_rng(seed)
    FaqEntry.objects.bulk_create(
        FaqEntry(site_id=site_id, question=sentence(rng, 4), answer=sentence(rng, 12))
        for _ in range(faqs)
    )
    faq_ids = list(FaqEntry.objects.filter(site_id=site_id).values_list("id", flat=True))
    rows = ROWS_PER_FAQ * len(faq_ids)
    vectors = unit_vectors(nprng, rows)
    texts = [sentence(rng, 4 if i % ROWS_PER_FAQ < 3 else 12) for i in range(rows)]
    copy_rows(
        "knowledge_faqvector",
        "faq_id, kind, text, vector, tokens",
        (
            (
                faq_ids[i // ROWS_PER_FAQ],
                "phrasing" if i % ROWS_PER_FAQ < 3 else "answer",
                text,
                vectors[i].tobytes(),
                tokens_stored(text),
            )
            for i, text in enumerate(texts)
        ),
    )
    documents = Document.objects.bulk_create(
        Document(site_id=site_id, title=f"Manual {n}", file=f"bench/{n}.txt", status="ready")
        for n in range((passages + 99) // 100)
    )
    passage_add(site_id, [d.id for d in documents], passages, rng, nprng)


def passage_add(
    site_id: int,
    document_ids: list[int],
    count: int,
    rng: random.Random,
    nprng: np.random.Generator,
) -> None:
    """Passages as the worker stores them: text, vector and BM25 tokens (tokenized here)."""
    from knowledge.text import tokens_stored

    vectors = unit_vectors(nprng, count)
    texts = [sentence(rng, 16) for _ in range(count)]
    copy_rows(
        "knowledge_passage",
        "document_id, site_id, position, text, vector, tokens",
        (
            (document_ids[i // 100], site_id, i % 100, text, vector.tobytes(), tokens_stored(text))
            for i, (text, vector) in enumerate(zip(texts, vectors, strict=True))
        ),
    )


def search_latencies(site: Any, queries: list[str]) -> dict[str, list[float]]:
    """Per query: embedding, dense, BM25, the whole search without / with the embedding."""
    from knowledge.embeddings import embed
    from knowledge.index import site_index
    from knowledge.search import knowledge_search, knowledge_search_vector
    from knowledge.text import tokenize

    index = site_index(site.id)
    faqs, answers, passages = index.faqs, index.answers, index.passages
    fv, av, pv = faqs.view, answers.view, passages.view  # nothing changes while queries run

    def dense(vector: np.ndarray) -> None:  # as the search scans (shortlisted when large)
        fv.dense_scores(vector)
        av.dense_scores(vector)
        pv.dense_scores(vector)

    def exact(vector: np.ndarray) -> None:  # every row's cosine: the exact scan
        fv.cosines(vector)
        av.cosines(vector)
        pv.cosines(vector)

    def lexical(query: str) -> None:
        tokens = tokenize(query)
        faqs.bm25_scores(fv, tokens)
        answers.bm25_scores(av, tokens)
        passages.bm25_scores(pv, tokens)

    samples: dict[str, list[float]] = {}

    def measure(key: str, fn: Callable[..., Any], *args: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        value = fn(*args)
        samples.setdefault(key, []).append((time.perf_counter() - wall) * 1000)
        samples.setdefault(key + "_cpu", []).append((time.process_time() - cpu) * 1000)
        return value

    for query in queries:
        vector = measure("embed", embed, [query])[0]
        measure("exact", exact, vector)
        measure("dense", dense, vector)
        measure("bm25", lexical, query)
        measure("search", lambda: knowledge_search_vector(site=site, query=query, vector=vector))  # noqa: B023
        measure("e2e", lambda: knowledge_search(site=site, query=query))  # noqa: B023
    return samples


def refresh_times(site: Any, rng: random.Random, nprng: np.random.Generator) -> dict[str, float]:
    from django.utils import timezone

    from knowledge.index import knowledge_changed, site_index
    from knowledge.models import Document, FaqEntry

    index = site_index(site.id)
    before = index.passages.n
    times: dict[str, float] = {}
    for label, ids in (("logged", True), ("diff", False)):
        document = Document.objects.create(site=site, title=f"New {label}", file="bench/new.txt")
        passage_add(site.id, [document.id], 100, rng, nprng)
        knowledge_changed(site.id, document_ids=[document.id] if ids else None)
        times[label] = timed(lambda: site_index(site.id))[1]
    assert site_index(site.id) is index and index.passages.n == before + 200, "not incremental"
    edited = list(FaqEntry.objects.filter(site=site).values_list("id", flat=True)[:10])
    FaqEntry.objects.filter(id__in=edited).update(answer="Edited.", updated_at=timezone.now())
    knowledge_changed(site.id, faq_ids=edited)
    times["faqs"] = timed(lambda: site_index(site.id))[1]
    return times


def tokenize_rate() -> dict[str, float]:
    """Characters per second of tokenize() on realistic text, with its cache emptied first."""
    from knowledge.text import _cjk_tokens, tokenize

    rates = {}
    for label, text in (("en", REALISTIC_EN), ("zh", REALISTIC_ZH)):
        tokenize(text)  # jieba's dictionary loads on first use
        started = time.perf_counter()
        for _ in range(200):
            _cjk_tokens.cache_clear()  # a passage's clauses are new to the index
            tokenize(text)
        rates[label] = 200 * len(text) / (time.perf_counter() - started)
    return rates


def report(args: argparse.Namespace, load: dict[str, float], samples: dict[str, list[float]],
           refresh: dict[str, float], rates: dict[str, float]) -> None:  # fmt: skip
    print(f"\nsite: {args.faqs} FAQs (x3 phrasings, x2 answer pieces), {args.passages} passages; "
          f"{args.queries} queries, k=5; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} (wall times suffer when the CPUs are shared)")  # fmt: skip
    print(f"{'measure':<50}{'p50 ms':>10}{'p99 ms':>10}{'CPU p50':>10}")
    rows = [
        ("query embedding (USE, 1 query)", "embed"),
        ("exact scan: every row of the three matrices", "exact"),
        ("dense as searched (shortlist in 128 dims + exact)", "dense"),
        ("BM25: tokenize + FAQ + passage scores", "bm25"),
        ("search: dense + BM25 + scoring (+ thresholds)", "search"),
        ("knowledge_search end to end (with embedding)", "e2e"),
    ]
    for label, key in rows:
        p50, p99 = percentiles(samples[key])
        cpu = percentiles(samples[key + "_cpu"])[0]
        print(f"{label:<50}{p50:>10.2f}{p99:>10.2f}{cpu:>10.2f}")
    # The exact dense scan was the floor of the search at this size, and it moves with the
    # machine's memory bandwidth: the ratios are against it, from the same run. (The rows
    # here are random vectors: `python -m bench.shortlist` measures what the shortlist keeps
    # on real sentences.)
    exact, dense = percentiles(samples["exact"])[0], percentiles(samples["dense"])[0]
    search = percentiles(samples["search"])[0]
    print(f"dense as searched / exact scan, p50 (same run): {dense / exact:.2f}")
    print(f"search / exact scan, p50 (same run): {search / exact:.2f}")
    print(f"{'measure':<50}{'ms':>10}")
    for label, value in (
        ("refresh: +100 passages, logged document id", refresh["logged"]),
        ("refresh: +100 passages, signature diff (no ids)", refresh["diff"]),
        ("refresh: 10 edited FAQs, logged ids", refresh["faqs"]),
        ("full load of the index (first search)", load["load"]),
        ("writing the rows (COPY; tokenizing them too)", load["fill"]),
    ):
        print(f"{label:<50}{value:>10.0f}")
    print("(CPU: the process's CPU time; below the wall time when other jobs share the CPUs)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB")
    for label, rate in rates.items():
        print(
            f"tokenize() on real {label} text: {rate / 1000:.0f}k chars/s, so "
            f"{60e6 / rate:.0f} s for 100k passages of 600 chars (once, when they are stored)"
        )


def run(args: argparse.Namespace) -> None:
    from knowledge.embeddings import embed
    from knowledge.index import site_index
    from sites.models import Site

    rng, nprng = random.Random(11), np.random.default_rng(11)
    site = Site.objects.create(slug="bench", name="Bench")
    load = {"fill": timed(lambda: site_fill(site.id, args.faqs, args.passages))[1]}
    load["load"] = timed(lambda: site_index(site.id))[1]
    embed(["warm up"])
    queries = [sentence(rng, rng.randint(1, 3)) for _ in range(args.queries)]
    samples = search_latencies(site, queries)
    refresh = refresh_times(site, rng, nprng)
    report(args, load, samples, refresh, tokenize_rate())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faqs", type=int, default=10_000)
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    prefix = f"helpline-bench-{uuid.uuid4().hex[:8]}"
    os.environ.update(
        {"DJANGO_SETTINGS_MODULE": "webapp.settings", "REDIS_KEY_PREFIX": prefix,
         "LOG_LEVEL": "WARNING", "INFERENCE_PRELOAD": "false"}
    )  # fmt: skip
    with throwaway_database(args.admin_url) as url:
        os.environ["DATABASE_URL"] = url
        import django

        django.setup()
        from django.core.management import call_command

        from webapp.redis import redis_sync

        try:
            call_command("migrate", verbosity=0)
            run(args)
        finally:
            keys = list(redis_sync().scan_iter(match=f"{prefix}:*", count=1000))
            if keys:
                redis_sync().delete(*keys)
    return 0


if __name__ == "__main__":
    sys.exit(main())
