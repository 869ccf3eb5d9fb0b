"""Prompt variants of the translator on the default model, on the calibrate half of a
translation set (the half `evaluate translate --part report` leaves out), scored with chrF
and BLEU beside the plain one-line prompt of the same run. The shipped prompt was chosen
with this; its figures are reported on the other half by `evaluate translate`.

Variants: `plain` (the raw model: "Translate to Chinese: ..."), `instructions` (the
shipped system prompt, the text as the user turn), `one_example` (the instructions and one
example pair, the text as is: the earlier product prompt), `ask_one_example` (one-line asks
with one example), `shipped` (instructions, two examples, one-line asks), `sentences` (the
shipped prompt, one sentence at a time).

    .venv/bin/python -m bench.translate_prompts --dataset ../shared/data/wmt22/wmt22_en-zh.jsonl \
        [--limit 30] [--variants plain,shipped]
"""

import argparse
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_SENTENCE_END = re.compile(r"(?<=[。！？!?])|(?<=[.](?=\s))")

Messages = list[Any]  # chat messages


def variants() -> dict[str, Callable[[str, str, str], list[Messages]]]:
    from translate.languages import LANGUAGES
    from translate.prompts import ASK, EXAMPLES, SYSTEM, plain_messages, translation_messages

    def system(s: str, t: str) -> dict[str, str]:
        return {
            "role": "system",
            "content": SYSTEM.format(source=LANGUAGES[s].name, target=LANGUAGES[t].name),
        }

    def one_example(text: str, s: str, t: str, ask: bool) -> list[Messages]:
        example, translated = EXAMPLES[(s, t)][0]
        target = LANGUAGES[t].name

        def asked(value: str) -> str:
            return ASK.format(target=target, text=value) if ask else value

        return [
            [
                system(s, t),
                {"role": "user", "content": asked(example)},
                {"role": "assistant", "content": translated},
                {"role": "user", "content": asked(text)},
            ]
        ]

    def shipped(text: str, s: str, t: str) -> list[Messages]:
        return [list(translation_messages(text=text, source_lang=s, target_lang=t))]

    def sentences(text: str, s: str, t: str) -> list[Messages]:
        parts = [p.strip() for p in _SENTENCE_END.split(text) if p.strip()] or [text]
        return [shipped(part, s, t)[0] for part in parts]

    return {
        "plain": lambda text, s, t: [list(plain_messages(text=text, target_lang=t))],
        "instructions": lambda text, s, t: [[system(s, t), {"role": "user", "content": text}]],
        "one_example": lambda text, s, t: one_example(text, s, t, ask=False),
        "ask_one_example": lambda text, s, t: one_example(text, s, t, ask=True),
        "shipped": shipped,
        "sentences": sentences,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--variants", default="")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import sacrebleu

    from chat.engine import engine_backend
    from evaluation.answers import queries_part
    from evaluation.convert import ordered_sample, seeded
    from evaluation.translations import items_read
    from inference.base import GenerationParams
    from inference.prompt import estimate_tokens
    from translate.prompts import translation_clean

    table = variants()
    names = [n for n in args.variants.split(",") if n] or list(table)
    items = ordered_sample(
        seeded(), queries_part(items_read(args.dataset), "calibrate"), args.limit
    )
    backend = engine_backend("translate")
    references = [item.ref for item in items]
    target = items[0].tgt_lang
    joiner = "" if target == "zh" else " "
    print(f"{args.dataset.stem}, calibrate half, {len(items)} items")
    print(f"{'variant':18}{'chrF':>8}{'BLEU':>8}{'s/item':>8}")
    for name in names:
        hypotheses, started = [], time.perf_counter()
        for item in items:
            pieces = []
            for messages in table[name](item.src, item.src_lang, target):
                wanted = 2 * estimate_tokens(messages[-1]["content"]) + 32
                params = GenerationParams(max_tokens=wanted, temperature=0.0)
                text = "".join(d.text for d in backend.stream(messages, params, "bench"))
                pieces.append(translation_clean(text, item.src))
            hypotheses.append(joiner.join(pieces))
        seconds = (time.perf_counter() - started) / len(items)
        chrf = sacrebleu.corpus_chrf(hypotheses, [references]).score
        bleu = sacrebleu.corpus_bleu(
            hypotheses, [references], tokenize="zh" if target == "zh" else "13a"
        ).score
        print(f"{name:18}{chrf:>8.1f}{bleu:>8.1f}{seconds:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
