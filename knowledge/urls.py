from django.urls import path

from knowledge import api

app_name = "knowledge"

urlpatterns = [
    path("search", api.knowledge_search_api, name="search"),
]
