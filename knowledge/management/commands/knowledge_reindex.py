"""manage.py knowledge_reindex [--site SLUG]: embed FAQs and passages again (model change)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from knowledge.services import knowledge_reindex
from sites.models import Site


class Command(BaseCommand):
    help = "Re-embed every FAQ phrasing and passage of one site, or of all sites."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--site", help="Site slug (default: every site).")

    def handle(self, *args: Any, **options: Any) -> None:
        sites = Site.objects.order_by("id")
        if options["site"]:
            sites = sites.filter(slug=options["site"])
            if not sites.exists():
                raise CommandError(f"No site with the slug {options['site']!r}.")
        for site in sites:
            vectors, passages = knowledge_reindex(site)
            self.stdout.write(f"{site.slug}: {vectors} FAQ phrasings, {passages} passages embedded")
