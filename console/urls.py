from django.urls import path

from console import views

app_name = "console"

urlpatterns = [
    path("", views.inbox_page, name="inbox"),
    path("inbox", views.inbox_partial, name="inbox-partial"),
    path("presence", views.presence_set, name="presence"),
    path("c/<uuid:conversation_id>/", views.conversation_page, name="conversation"),
    path("c/<uuid:conversation_id>/side", views.side_partial, name="side"),
    path("c/<uuid:conversation_id>/notes", views.note_create, name="note-create"),
    path("c/<uuid:conversation_id>/canned", views.canned_partial, name="canned"),
    path("c/<uuid:conversation_id>/suggest", views.suggestion_create, name="suggest"),
    path(
        "c/<uuid:conversation_id>/<slug:action>",
        views.conversation_action,
        name="action",
    ),
]
