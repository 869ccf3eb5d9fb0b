from django.urls import path

from summarize import api, views

app_name = "summarize"

urlpatterns = [
    path("", views.summarize_page, name="page"),
    path("<uuid:summary_id>/", views.summarize_page, name="detail"),
]

api_urlpatterns = [
    path("summaries", api.summary_create_api, name="api-summary-create"),
    path("summaries/<uuid:summary_id>", api.summary_detail_api, name="api-summary-detail"),
    path("summaries/<uuid:summary_id>/cancel", api.summary_cancel_api, name="api-summary-cancel"),
    path(
        "conversations/<uuid:conversation_id>/summary",
        api.conversation_summary_api,
        name="api-conversation-summary",
    ),
]
