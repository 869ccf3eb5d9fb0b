from django.urls import path

from chat import api, views

app_name = "chat"

urlpatterns = [
    path("", views.chat_home, name="home"),
    path("c/new", views.conversation_new, name="new"),
    path("c/<uuid:conversation_id>/", views.conversation_page, name="conversation"),
    path("c/<uuid:conversation_id>/m/<int:message_id>/", views.message_partial, name="message"),
]

api_urlpatterns = [
    path("conversations", api.conversation_create_api, name="api-conversation-create"),
    path(
        "conversations/<uuid:conversation_id>/messages",
        api.message_list_api,
        name="api-message-list",
    ),
]
