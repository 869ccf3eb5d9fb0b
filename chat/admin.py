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
    list_display = ("id", "status", "queued_at", "first_token_at", "done_at", "completion_tokens")
    list_filter = ("status",)
    readonly_fields = [f.name for f in Generation._meta.fields]
