"""Latency of live translation in a conversation with the default model on this machine:
a visitor's one-sentence message translated for staff, and an agent's reply translated
for the visitor, from the message stored to its translation stored.

A scratch site (SQLite in a temporary folder unless DATABASE_URL is set) whose staff write
English; a conversation whose visitor writes Chinese, with staff taking part. The messages
are real one-sentence customer-service lines: the report half of WMT22 (Chinese visitor
lines from zh-en, English agent lines from en-zh's conversation domain), seeded. Each
translation runs in-process as the chat worker runs it (generation_execute), in two cases:

- after a reply's: the model's last prompt was the agent's reply translated (the other direction);
- after an answer: the assistant answered the previous message last (a different prompt
  took the model's KV cache; the translator's saved prompt state is restored:
  INFERENCE_STATE_CACHE_MB).

A visitor's translation is queued ahead of the assistant's answer to the same message, so
it waits for no answer; an agent's reply is translated the same way.

The time of the Celery hop (a few ms on a local broker) is not included.

    .venv/bin/python -m bench.live_translation [--messages 10]
"""

import argparse
import json
import os
import statistics
from pathlib import Path

from bench import ROOT, scratch_django

SHARED = ROOT.parent / "shared" / "data" / "wmt22"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--data", type=Path, default=SHARED)
    args = parser.parse_args()
    os.environ.setdefault("VISITOR_MESSAGES_PER_MINUTE", "0")  # one visitor, many messages
    scratch_django("live")
    run(args.messages, args.data)


def one_sentence(rows: list[dict[str, str]], count: int) -> list[str]:
    """Lines of one sentence (one final stop, under 120 characters), seeded."""
    from evaluation.answers import queries_part
    from evaluation.convert import ordered_sample, seeded

    ends = "。！？.!?"
    lines = [
        row["src"] for row in queries_part(rows, "report")
        if len(row["src"]) < 120 and sum(row["src"].count(e) for e in ends) <= 1
        and row.get("domain") in (None, "conversation")
    ]  # fmt: skip
    return ordered_sample(seeded(), lines, count)


def translated_ms(generation_id: str) -> float:
    from chat.models import Generation
    from chat.runner import generation_execute

    generation_execute(generation_id)
    generation = Generation.objects.get(id=generation_id)
    assert generation.status == "done" and generation.done_at, generation.error_code
    return (generation.done_at - generation.queued_at).total_seconds() * 1000


def run(count: int, data: Path) -> None:
    from chat.engine import engine_backend
    from chat.models import Generation, Message
    from chat.runner import generation_execute
    from chat.services import agent_message_post, conversation_create, message_post
    from sites.models import Site
    from translate.live import message_translation_ensure

    def read(name: str) -> list[dict[str, str]]:
        path = data / name
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]

    visitor_lines = one_sentence(read("wmt22_zh-en.jsonl"), 2 * count + 1)
    agent_lines = one_sentence(read("wmt22_en-zh.jsonl"), count + 1)
    engine_backend()  # loaded before timing
    site = Site.objects.create(slug="bench-live", name="Bench", staff_language="en")
    conversation = conversation_create(site=site)
    cases: dict[str, list[float]] = {"visitor, after a reply's": [],
                                     "visitor, after an answer": [], "agent reply": []}  # fmt: skip
    chars: dict[str, list[int]] = {name: [] for name in cases}

    def visitor(text: str, answered: bool) -> float:
        """The visitor's message translated (queued ahead of the answer, as the chat queue
        runs them); then the assistant's answer, when `answered`, takes the model's cache
        before the next message."""
        posted = message_post(conversation=conversation, text=text)
        message = Message.objects.get(id=posted.user_message.id)
        generation = message_translation_ensure(message) or Generation.objects.get(
            message=message, kind="message_translation"
        )
        ms = translated_ms(str(generation.id))
        if answered:
            generation_execute(str(posted.generation.id))
        else:
            Generation.objects.filter(id=posted.generation.id).update(status="cancelled")
        return ms

    agent_message_post(conversation=conversation, author=None, text=agent_lines[-1])  # staff in
    for generation in Generation.objects.filter(kind="message_translation", status="queued"):
        translated_ms(str(generation.id))
    visitor(visitor_lines[-1], answered=False)  # warm: the translator's prefix is cached
    for i in range(count):
        for name, text, answered in (
            ("visitor, after a reply's", visitor_lines[2 * i], True),
            ("visitor, after an answer", visitor_lines[2 * i + 1], False),
        ):
            cases[name].append(visitor(text, answered))
            chars[name].append(len(text))
        reply = agent_message_post(conversation=conversation, author=None, text=agent_lines[i])
        generation = Generation.objects.get(message=reply, kind="message_translation")
        cases["agent reply"].append(translated_ms(str(generation.id)))
        chars["agent reply"].append(len(agent_lines[i]))
        shown = Message.objects.get(id=reply.id)
        assert shown.text and shown.original == agent_lines[i], "the reply was not translated"
    print(f"{count} messages per case, one sentence each (WMT22 report half)")
    print(f"{'case':32}{'chars p50':>10}{'p50 ms':>10}{'p90 ms':>10}{'max ms':>10}")
    for name, values in cases.items():
        ordered = sorted(values)
        p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
        print(
            f"{name:32}{statistics.median(chars[name]):>10.0f}"
            f"{statistics.median(values):>10.0f}{p90:>10.0f}{max(values):>10.0f}"
        )


if __name__ == "__main__":
    main()
