from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path

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
    change_list_template = "admin/chat/generation/change_list.html"

    def get_urls(self) -> list[Any]:
        engines = self.admin_site.admin_view(self.engines_view)
        return [path("engines/", engines, name="chat_engines"), *super().get_urls()]

    def engines_view(self, request: HttpRequest) -> HttpResponse:
        """Read-only: which backend and model serve each task, and what the workers say."""
        from chat.engine import engines_describe
        from chat.worker import workers_alive

        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            workers = workers_alive()
        except Exception:  # Redis away: the configuration is still worth showing
            workers = []
        context = {
            **self.admin_site.each_context(request),
            "title": "Inference engines",
            "opts": self.model._meta,
            "engines": engines_describe(),
            "workers": workers,
        }
        return TemplateResponse(request, "admin/chat/engines.html", context)
