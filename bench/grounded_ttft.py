"""Time to first token of grounded answers with the default model on this machine, beside
plain chat (a site without knowledge) from the same run.

Loads the English help-centre set of evaluation/data into a scratch site (SQLite in a
temporary folder unless DATABASE_URL is set), then answers in-process as a worker does:
retrieval, the source check (Backend.score), the answer. Three cases, each a few questions:

- cold: a question the model has not seen, after another question took the KV cache;
- repeated: the same question again, after others were asked in between (the prompt's
  saved state is reused: INFERENCE_STATE_CACHE_MB);
- plain: the same questions on a site without knowledge (no sources, no check).

    .venv/bin/python -m bench.grounded_ttft [--questions 6]
"""

import argparse
import statistics

from bench import ROOT, scratch_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=6)
    args = parser.parse_args()
    scratch_django("ttft")
    run(args.questions)


def ttft_ms(site: object, question: str) -> tuple[float, str]:
    from chat.models import Generation
    from chat.runner import generation_execute
    from chat.services import conversation_create, message_post

    posted = message_post(conversation=conversation_create(site=site), text=question)  # type: ignore[arg-type]
    generation_execute(posted.generation.id)
    generation = Generation.objects.select_related("message").get(id=posted.generation.id)
    assert generation.first_token_at is not None, generation.error_code
    ttft = (generation.first_token_at - generation.queued_at).total_seconds() * 1000
    assert generation.message is not None
    return ttft, generation.message.route


def run(count: int) -> None:
    from chat.engine import engine_backend
    from evaluation.faq import Thresholds, dataset_load, faqs_load, scratch_site

    dataset = dataset_load(ROOT / "evaluation" / "data" / "helpcentre_en")
    questions = [q["query"] for q in dataset.queries if q["faq_id"]][: count + 1]
    engine_backend()  # loaded before timing
    with scratch_site(Thresholds()) as site, scratch_site(Thresholds()) as plain:
        faqs_load(site, dataset.faqs)
        ttft_ms(site, questions[-1])  # warm: the fixed prefix of the prompt is cached
        cold, repeated, plain_ms, routes = [], [], [], []
        for question in questions[:count]:
            ms, route = ttft_ms(site, question)
            cold.append(ms)
            routes.append(route)
        for question in questions[:count]:  # each again, after the others took the KV cache
            repeated.append(ttft_ms(site, question)[0])
        for question in questions[:count]:
            plain_ms.append(ttft_ms(plain, question)[0])
    grounded = [ms for ms, route in zip(cold, routes, strict=True) if route == "grounded"]
    print(f"{count} questions of helpcentre_en; routes {routes}")
    print(f"{'case':30}{'p50 ms':>10}{'max ms':>10}{'over plain':>12}")
    base = statistics.median(plain_ms)
    for name, values in (
        ("grounded, cold", grounded or cold),
        ("grounded, repeated question", repeated),
        ("plain chat (no knowledge)", plain_ms),
    ):
        p50 = statistics.median(values)
        print(f"{name:30}{p50:>10.0f}{max(values):>10.0f}{p50 / base:>11.2f}x")


if __name__ == "__main__":
    main()
