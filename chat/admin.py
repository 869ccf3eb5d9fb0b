from django.contrib import admin

from chat.models import Conversation, Generation, Message


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ("role", "status", "text", "created_at")
    readonly_fields = fields


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("__str__", "site", "owner", "updated_at")
    list_filter = ("site",)
    search_fields = ("title", "id")
    inlines = [MessageInline]


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    # error_detail (in the form) is the exception's text: staff see it here, users never do.
    list_display = (
        "id",
        "status",
        "error_code",
        "queued_at",
        "first_token_at",
        "done_at",
        "completion_tokens",
    )
    list_filter = ("status", "error_code")
    readonly_fields = [f.name for f in Generation._meta.fields]
