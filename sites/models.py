import hashlib
import secrets

from django.db import models


def site_key_new() -> str:
    return "sk_" + secrets.token_urlsafe(24)


def secret_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def site_key_hash_new() -> str:
    """A new site's key hash: of a key nobody was shown (one is issued when needed)."""
    return secret_key_hash(site_key_new())


def site_public_key_new() -> str:
    return "pk_" + secrets.token_urlsafe(16)


def site_identity_secret_new() -> str:
    return secrets.token_urlsafe(32)


class Site(models.Model):
    """A tenant: one company's assistant. Every conversation belongs to exactly one."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    allowed_origins = models.TextField(
        blank=True, help_text="Origins (https://example.com) that may embed the chat, one a line."
    )
    # The SHA-256 of the server-to-server key for the site's APIs (`Authorization: Bearer
    # <key>`; never in a web page). The key itself is shown once, when it is issued
    # (`site_create`, the admin's action), and never stored.
    secret_key_hash = models.CharField(max_length=64, unique=True, default=site_key_hash_new)
    secret_key: str  # the key just issued, known to this instance only (secret_key_issue)
    # The widget's key, public in the web page's snippet: it opens conversations only from
    # the allowed origins, and reads none (each conversation has its own visitor token).
    public_key = models.CharField(max_length=64, unique=True, default=site_public_key_new)
    # HMAC-SHA256(identity_secret, user_id) is the user_hash that proves a visitor's id.
    identity_secret = models.CharField(max_length=64, default=site_identity_secret_new)
    allow_anonymous = models.BooleanField(
        default=True, help_text="Visitors without a verified identity may chat."
    )
    # The widget's look and words.
    greeting = models.CharField(
        max_length=300, blank=True, help_text="The widget's first line (blank: a default)."
    )
    color = models.CharField(max_length=16, default="#2563eb", help_text="e.g. #2563eb")
    logo_url = models.URLField(blank=True)
    language = models.CharField(
        max_length=8, blank=True, help_text="en or zh; blank: the visitor's browser language."
    )
    position = models.CharField(
        max_length=8, default="right", choices=[("right", "right"), ("left", "left")]
    )
    daily_token_quota = models.PositiveIntegerField(
        default=0, help_text="Model tokens (prompt and answer) a day across the site (0: none)."
    )
    # The language staff read and write; a visitor writing another one is translated both
    # ways in the conversation (translate.live).
    staff_language = models.CharField(
        max_length=16, default="en", help_text="The language of staff (en, zh)."
    )
    # Handoff to people (console.handoff).
    business_hours = models.CharField(
        max_length=200,
        blank=True,
        help_text="When agents answer, e.g. 'mon-fri 09:00-18:00; sat 10:00-14:00' in the "
        "site's time zone (blank: always).",
    )
    time_zone = models.CharField(max_length=64, default="UTC", help_text="e.g. Asia/Shanghai")
    auto_assign = models.BooleanField(
        default=True,
        help_text="Give a waiting conversation to the online agent with the fewest open "
        "ones, in turn (off: agents take them from the inbox).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    def secret_key_issue(self) -> str:
        """A new secret key (the old one stops working), returned this once."""
        key = site_key_new()
        self.secret_key_hash = secret_key_hash(key)
        self.save(update_fields=["secret_key_hash"])
        self.secret_key = key
        return key

    def origin_list(self) -> list[str]:
        return [
            line.strip().rstrip("/") for line in self.allowed_origins.splitlines() if line.strip()
        ]
