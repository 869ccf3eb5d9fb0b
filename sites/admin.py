from django.contrib import admin

from sites.models import Site


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "allow_anonymous", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("public_key", "identity_secret")
    fields = (
        "name", "slug", "allowed_origins", "allow_anonymous", "staff_language",
        "public_key", "identity_secret",
    )  # fmt: skip
