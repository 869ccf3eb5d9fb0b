from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest

from chat.admin import ConversationAdmin
from chat.models import Conversation, GenerationStep
from summarize.models import Summary
from summarize.services import SummaryInputError, conversation_summarize


@admin.register(Summary)
class SummaryAdmin(admin.ModelAdmin):
    list_display = ("__str__", "kind", "length", "language", "status", "method", "created_at")
    list_filter = ("status", "kind", "method", "site")
    search_fields = ("title", "text")
    readonly_fields = (
        "id", "site", "owner", "conversation", "generation", "kind", "length", "structured",
        "language", "title", "text", "method", "status", "created_at", "steps", "source_text",
    )  # fmt: skip

    @admin.display(description="Steps (long inputs)")
    def steps(self, summary: Summary) -> str:
        rows = list(GenerationStep.objects.filter(generation__summary=summary))
        if not rows:
            return "one step"
        done = sum(row.done_at is not None for row in rows)
        levels = max(row.level for row in rows)
        fallbacks = sum(row.method == "fallback" for row in rows)
        return f"{done} of {len(rows)} done, {levels} level(s), {fallbacks} by the fallback"


# The conversation's summaries, on the conversation's admin page (the chat app knows
# nothing of summaries; this app adds them to its admin).
class ConversationSummaryInline(admin.StackedInline):
    model = Summary
    fk_name = "conversation"
    extra = 0
    can_delete = False
    fields = ("status", "method", "language", "created_at", "text")
    readonly_fields = fields
    verbose_name_plural = "summaries (newest first)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.action(description="Summarize the selected conversations")
def conversations_summarize(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: Any
) -> None:
    started = 0
    for conversation in queryset:
        try:
            conversation_summarize(conversation=conversation, owner=request.user)
            started += 1
        except SummaryInputError as exc:
            modeladmin.message_user(
                request, f"{conversation}: {exc.detail}", level=messages.WARNING
            )
    if started:
        modeladmin.message_user(
            request, f"{started} summary job(s) started; they appear on each conversation's page."
        )


admin.site.unregister(Conversation)  # registered by chat.admin, which comes first


@admin.register(Conversation)
class ConversationWithSummariesAdmin(ConversationAdmin):
    inlines = [*ConversationAdmin.inlines, ConversationSummaryInline]
    actions = [conversations_summarize]
