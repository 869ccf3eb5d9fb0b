import threading
from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest
from django.utils.html import format_html

from sites.limits import site_tokens_today
from sites.models import Site

_request = threading.local()  # the admin request being drawn, for the snippet's host


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "allow_anonymous", "tokens_today", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("public_key", "identity_secret", "snippet", "tokens_today")
    actions = ("secret_key_renew",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = (
        (None, {"fields": ("name", "slug", "staff_language")}),
        ("Widget", {"fields": ("snippet", "public_key", "allowed_origins", "allow_anonymous",
                               "identity_secret", "greeting", "color", "logo_url", "language",
                               "position")}),
        ("Limits", {"fields": ("daily_token_quota", "tokens_today")}),
        ("Handoff to people", {"fields": ("business_hours", "time_zone", "auto_assign")}),
    )  # fmt: skip

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        _request.base = request.build_absolute_uri("/").rstrip("/")
        return super().get_form(request, obj, change, **kwargs)

    @admin.display(description="Snippet for the site's pages")
    def snippet(self, site: Site) -> str:
        if not site.pk:
            return "Save the site to get its snippet."
        base = getattr(_request, "base", "https://HOST")
        tag = f'<script src="{base}/widget.js" data-site="{site.public_key}" async></script>'
        return format_html(
            "<code>{}</code><p>Allow the pages' origins below (https://shop.example.com, one a "
            "line). A verified visitor: pass user_id and user_hash = HMAC-SHA256(identity "
            "secret, user_id) to <code>Helpline.identify()</code>.</p>",
            tag,
        )

    @admin.action(description="Issue a new secret key (shown once; the old one stops working)")
    def secret_key_renew(self, request: HttpRequest, queryset: Any) -> None:
        for site in queryset:
            key = site.secret_key_issue()
            self.message_user(request, f"{site.name}: new secret key {key} (copy it now).")

    @admin.display(description="Tokens today (UTC)")
    def tokens_today(self, site: Site) -> str:
        if not site.pk:
            return "-"
        used = site_tokens_today(site)
        quota = f" of {site.daily_token_quota:,}" if site.daily_token_quota else ""
        return f"{used:,}{quota}"
