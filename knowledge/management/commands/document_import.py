"""manage.py document_import FILE... [--site SLUG] [--replace]: add documents, indexed."""

import contextlib
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from knowledge.documents import document_delete, document_index, document_store
from knowledge.extract import DocumentUnreadable
from knowledge.models import Document
from sites.models import Site
from sites.selectors import site_get_by_slug
from sites.services import site_default_ensure


class Command(BaseCommand):
    help = (
        "Add .txt, .md, .html, .pdf or .docx files as documents of a site and index them; "
        "returns once their passages are searchable. No worker needs to run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument("--site", help="Site slug (default: the default site).")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Delete the site's other documents of the same title once the new one is ready.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        site = site_get_by_slug(options["site"]) if options["site"] else site_default_ensure()
        if site is None:
            raise CommandError(f"No site with the slug {options['site']!r}.")
        paths: list[Path] = options["files"]
        failed = sum(not self._import(site, path, options["replace"]) for path in paths)
        if failed:
            raise CommandError(
                f"{failed} of {len(paths)} file(s) failed; the others were imported.",
                returncode=1,
            )

    def _import(self, site: Site, path: Path, replace: bool) -> bool:
        """Store and index one file; a file that fails leaves nothing behind."""
        try:
            document = document_store(site=site, name=path.name, data=path.read_bytes())
        except OSError as exc:
            return self._failed(path, f"Cannot read the file ({exc.strerror}).")
        except ValidationError as exc:
            return self._failed(path, " ".join(exc.messages))
        except DocumentUnreadable as exc:
            return self._failed(path, str(exc))
        # An unexpected error is logged by document_index, and the document marked failed.
        with contextlib.suppress(Exception):
            document_index(document_id=document.id)
        document.refresh_from_db()
        if document.status != Document.Status.READY:
            document_delete(document=document)
            return self._failed(path, document.error)
        others = list(
            Document.objects.filter(site=site, title=document.title).exclude(id=document.id)
        )
        note = ""
        if replace:
            for other in others:
                document_delete(document=other)
            note = f", replaced {len(others)} earlier" if others else ""
        elif others:
            note = f", {len(others)} earlier of this title kept (see --replace)"
        count = document.passages.count()
        passages = "1 passage" if count == 1 else f"{count} passages"
        self.stdout.write(f'{path}: "{document.title}", {passages}, ready{note}')
        return True

    def _failed(self, path: Path, message: str) -> bool:
        self.stderr.write(f"{path}: failed: {message}")
        return False
