"""The extra admin pages, added to each ModelAdmin's own URLs (staff only through admin_view).

Living under /admin/knowledge/<model>/..., they need no line in webapp/urls.py.
"""

from collections.abc import Callable
from functools import partial
from typing import Any

from django.contrib import admin
from django.urls import URLPattern, path

from knowledge import views


def _page(model_admin: admin.ModelAdmin, view: Callable[..., Any]) -> Callable[..., Any]:
    return model_admin.admin_site.admin_view(partial(view, model_admin=model_admin))


def faq_admin_urls(model_admin: admin.ModelAdmin) -> list[URLPattern]:
    return [
        path(
            "import/",
            _page(model_admin, views.faq_import_view),
            name="knowledge_faqentry_import",
        ),
        path("try/", _page(model_admin, views.try_it_view), name="knowledge_faqentry_try"),
        path(
            "try/confirm/",
            _page(model_admin, views.try_it_confirm_view),
            name="knowledge_faqentry_try_confirm",
        ),
    ]


def document_admin_urls(model_admin: admin.ModelAdmin) -> list[URLPattern]:
    return [
        path(
            "<int:document_id>/progress/",
            _page(model_admin, views.document_progress_view),
            name="knowledge_document_progress",
        ),
    ]


def prompt_admin_urls(model_admin: admin.ModelAdmin) -> list[URLPattern]:
    return [
        path(
            "preview/",
            _page(model_admin, views.prompt_preview_view),
            name="knowledge_prompttemplate_preview",
        ),
        path(
            "<int:template_id>/activate/",
            _page(model_admin, views.prompt_activate_view),
            name="knowledge_prompttemplate_activate",
        ),
    ]
