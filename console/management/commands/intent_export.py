"""`manage.py intent_export`: retrain the default intent classifier from the shipped
examples (console/data/intent_examples.jsonl) and rewrite console/data/intent_head.npz.

Run it after editing the examples, then commit both files; `evaluate intent --dataset
console/data/intent_examples.jsonl --calibrate` says which HANDOFF_INTENT_THRESHOLD to ship.
"""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from console.intents import (
    DEFAULT_HEAD,
    default_examples,
    examples_embed,
    head_to_bytes,
    intent_accuracy,
    intent_head_fit,
)


class Command(BaseCommand):
    help = "Retrain the default intent classifier from the shipped examples and export it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, default=DEFAULT_HEAD, help="the .npz to write")

    def handle(self, *args: Any, **options: Any) -> None:
        examples = list(default_examples())
        head, held_out = intent_head_fit(examples)
        raw = head_to_bytes(head)
        options["out"].write_bytes(raw)
        trained = intent_accuracy(head, examples_embed(examples), [e.label for e in examples])
        self.stdout.write(
            f"{len(examples)} examples, labels {', '.join(head.labels)}; accuracy on a "
            f"held-out fifth {held_out:.3f}, on all the examples {trained:.3f}; "
            f"wrote {options['out']} ({len(raw) // 1024} KB)"
        )
