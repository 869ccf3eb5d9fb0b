import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from knowledge.services import faq_embed_missing
from sites.services import site_default_ensure


class Command(BaseCommand):
    help = "Create the default site and, on a fresh install, an admin login (printed once)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options):  # type: ignore[no-untyped-def]
        site = site_default_ensure()
        try:
            if queued := faq_embed_missing():
                self.stdout.write(f"{queued} FAQ entries queued to have their answers embedded.")
        except Exception as exc:  # the broker is not up yet: the operator can do it later
            self.stdout.write(
                f"FAQ answers not queued for embedding ({exc}); run knowledge_reindex."
            )
        users = get_user_model()
        if users.objects.filter(is_superuser=True).exists():
            self.stdout.write(f"Site '{site.slug}' ready; admin login already exists.")
            return
        password = secrets.token_urlsafe(12)
        admin = users.objects.create_superuser(username=username, email="", password=password)
        # The admin is also the first agent: a visitor who asks for a person reaches them
        # at /console/ on a fresh install (a superuser's agent profile answers every site).
        from console.models import AgentProfile

        AgentProfile.objects.get_or_create(user=admin)
        self.stdout.write(
            f"Site '{site.slug}' ready. Admin login created: {username} / {password} "
            "(shown once; change it in the admin). Agents answer visitors at /console/."
        )
