from django.urls import path

from chat.consumers import ConversationConsumer, JobConsumer

websocket_urlpatterns = [
    path("ws/conversations/<uuid:conversation_id>/", ConversationConsumer.as_asgi()),
    path("ws/jobs/<uuid:generation_id>/", JobConsumer.as_asgi()),
]
