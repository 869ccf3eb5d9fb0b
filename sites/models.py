import secrets

from django.db import models


def site_key_new() -> str:
    return "sk_" + secrets.token_urlsafe(24)


class Site(models.Model):
    """A tenant: one company's assistant. Every conversation belongs to exactly one."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    allowed_origins = models.TextField(
        blank=True, help_text="Origins (https://example.com) that may embed the chat, one a line."
    )
    # Server-to-server key for the site's APIs (`Authorization: Bearer <key>`); never put
    # it in a web page.
    secret_key = models.CharField(max_length=64, unique=True, default=site_key_new)
    # The language staff read and write; a visitor writing another one is translated both
    # ways in the conversation (translate.live).
    staff_language = models.CharField(
        max_length=16, default="en", help_text="The language of staff (en, zh)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    def origin_list(self) -> list[str]:
        return [
            line.strip().rstrip("/") for line in self.allowed_origins.splitlines() if line.strip()
        ]
