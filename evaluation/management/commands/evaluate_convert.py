"""`manage.py evaluate_convert --source clinc150 --out DIR`: a public set as FAQs + queries.

The conversions are described in `evaluation/convert.py`.
"""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluation.convert import CONVERTERS, DEFAULT_PHRASINGS, ConvertOptions, dataset_convert


class Command(BaseCommand):
    help = "Convert a public intent or matching set into faqs.jsonl + queries.jsonl."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", required=True, choices=sorted(CONVERTERS))
        parser.add_argument("--out", required=True, type=Path, help="folder to write")
        parser.add_argument(
            "--data",
            type=Path,
            default=Path(settings.BASE_DIR).parent / "shared" / "data",
            help="the public data folder (default: ../shared/data beside the repository)",
        )
        parser.add_argument(
            "--limit",
            type=int,
            help="keep at most this many FAQs; 0: all (default: all, lcqmc 1000)",
        )
        parser.add_argument(
            "--holdout",
            type=float,
            default=0.0,
            help="share of FAQs withheld; their queries become out-of-scope (default 0)",
        )
        parser.add_argument(
            "--phrasings",
            type=int,
            default=DEFAULT_PHRASINGS,
            help="utterances per intent that form its FAQ (intent sets; default %(default)s)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        data: Path = options["data"]
        if not data.is_dir():
            raise CommandError(f"No data folder at {data}; pass --data.")
        if not 0 <= options["holdout"] < 1:
            raise CommandError("--holdout must be in [0, 1).")
        if options["phrasings"] < 1 or (options["limit"] or 0) < 0:
            raise CommandError("--phrasings must be at least 1 and --limit at least 0.")
        convert_options = ConvertOptions(
            limit=options["limit"], holdout=options["holdout"], phrasings=options["phrasings"]
        )
        try:
            converted = dataset_convert(
                source=options["source"], data=data, out=options["out"], options=convert_options
            )
        except FileNotFoundError as exc:
            raise CommandError(f"Missing source file: {exc.filename}") from exc
        oos = sum(q["faq_id"] is None for q in converted.queries)
        self.stdout.write(
            f"{options['source']}: {len(converted.faqs)} FAQs, {len(converted.queries)} "
            f"queries ({oos} out-of-scope) written to {options['out']}"
        )
