import json

from django.core.management.base import BaseCommand, CommandError

from sites.services import site_provision


class Command(BaseCommand):
    help = (
        "Ensure a site and print its credentials as one JSON line (slug, public_key, "
        "secret_key, identity_secret). Run again, it adds the origins and issues a new "
        "secret key (the old one stops working); the public key and identity secret stay."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("name")
        parser.add_argument("--origin", action="append", default=[], help="repeatable")

    def handle(self, *args, name: str, origin: list[str], **options):  # type: ignore[no-untyped-def]
        try:
            site, secret_key = site_provision(name=name, origins=origin)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        credentials = {
            "slug": site.slug,
            "public_key": site.public_key,
            "secret_key": secret_key,
            "identity_secret": site.identity_secret,
        }
        self.stdout.write(json.dumps(credentials))
