"""manage.py faq_import FILE [--site SLUG] [--dry-run]: load FAQ entries from a file."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from knowledge.faq_files import faq_rows_from_file
from knowledge.services import faq_embed, faq_import
from sites.selectors import site_get_by_slug
from sites.services import site_default_ensure


class Command(BaseCommand):
    help = "Import FAQ entries from .jsonl, .json, .csv or .xlsx (upsert by faq_id)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--site", help="Site slug (default: the default site).")
        parser.add_argument("--dry-run", action="store_true", help="Check only; store nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        site = site_get_by_slug(options["site"]) if options["site"] else site_default_ensure()
        if site is None:
            raise CommandError(f"No site with the slug {options['site']!r}.")
        path: Path = options["file"]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}") from exc
        rows, errors = faq_rows_from_file(path.name, data)
        report = faq_import(
            site=site, rows=rows, dry_run=options["dry_run"], schedule_embedding=False
        )
        vectors = faq_embed(report.embed_ids)  # searchable when the command returns
        errors = sorted([*errors, *report.errors], key=lambda e: e.row)
        for error in errors:
            self.stderr.write(f"row {error.row}: {error.message}" if error.row else error.message)
        prefix = "dry run: would have " if options["dry_run"] else ""
        self.stdout.write(
            f"{prefix}created {report.created}, updated {report.updated}, "
            f"unchanged {report.unchanged}, errors {len(errors)} "
            f"({vectors} phrasings and answer pieces embedded) on site {site.slug}"
        )
        if errors:
            rest = "checked" if options["dry_run"] else "imported"
            raise CommandError(
                f"{len(errors)} row(s) failed; the others were {rest}.", returncode=1
            )
