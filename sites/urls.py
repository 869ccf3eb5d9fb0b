from django.urls import path

from sites import views

urlpatterns = [path("widget.js", views.widget_script, name="widget-script")]

api_urlpatterns = [
    path("widget/<str:public_key>", views.widget_config_api, name="api-widget-config"),
]
