from django.contrib import admin

from summarize.models import Summary, SummaryStep


class SummaryStepInline(admin.TabularInline):
    model = SummaryStep
    extra = 0
    can_delete = False
    fields = ("level", "position", "method", "started_at", "done_at", "result")
    readonly_fields = fields


@admin.register(Summary)
class SummaryAdmin(admin.ModelAdmin):
    list_display = ("__str__", "kind", "length", "language", "status", "method", "created_at")
    list_filter = ("status", "kind", "method", "site")
    search_fields = ("title", "text")
    readonly_fields = (
        "id", "site", "owner", "conversation", "generation", "kind", "length", "structured",
        "language", "title", "text", "method", "status", "created_at", "source_text",
    )  # fmt: skip
    inlines = (SummaryStepInline,)
