from django.urls import path

from translate import api, views

app_name = "translate"

urlpatterns = [
    path("", views.translate_page, name="page"),
    path("<uuid:translation_id>/", views.translate_page, name="detail"),
]

api_urlpatterns = [
    path("translations", api.translation_create_api, name="api-translation-create"),
    path(
        "translations/<uuid:translation_id>",
        api.translation_detail_api,
        name="api-translation-detail",
    ),
    path(
        "translations/<uuid:translation_id>/file",
        api.translation_file_api,
        name="api-translation-file",
    ),
    path(
        "translations/<uuid:translation_id>/cancel",
        api.translation_cancel_api,
        name="api-translation-cancel",
    ),
]
