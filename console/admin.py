from django.contrib import admin

from console.models import AgentProfile, CannedResponse, HandoffEvent, HandoffRule


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = ("__str__", "presence", "seen_at", "max_open")
    filter_horizontal = ("sites",)
    readonly_fields = ("seen_at", "last_assigned_at")


@admin.register(CannedResponse)
class CannedResponseAdmin(admin.ModelAdmin):
    list_display = ("__str__", "site", "text")
    list_filter = ("site",)
    search_fields = ("shortcut", "text")


@admin.register(HandoffRule)
class HandoffRuleAdmin(admin.ModelAdmin):
    list_display = ("__str__", "site", "active")
    list_filter = ("site", "active")


@admin.register(HandoffEvent)
class HandoffEventAdmin(admin.ModelAdmin):
    list_display = ("conversation", "state_from", "state_to", "reason", "actor_kind", "created_at")
    list_filter = ("reason", "state_to")
    readonly_fields = [f.name for f in HandoffEvent._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False


import console.admin_intents  # noqa: E402,F401  the intent classifier's (examples, training)
