from django.contrib import admin
from django.urls import include, path

from chat.urls import api_urlpatterns
from sites.urls import api_urlpatterns as site_api_urlpatterns
from summarize.urls import api_urlpatterns as summary_api_urlpatterns
from translate.urls import api_urlpatterns as translation_api_urlpatterns
from webapp.health import healthz
from webapp.metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include(api_urlpatterns)),
    path("api/v1/", include(summary_api_urlpatterns)),
    path("api/v1/", include(translation_api_urlpatterns)),
    path("api/v1/", include(site_api_urlpatterns)),
    path("", include("sites.urls")),
    path("summarize/", include("summarize.urls")),
    path("translate/", include("translate.urls")),
    path("console/", include("console.urls")),
    path("api/v1/knowledge/", include("knowledge.urls")),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("", include("chat.urls")),
]
