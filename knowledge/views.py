"""Extra admin pages of the knowledge app: FAQ import, Try it, document progress, prompt
preview and activation. Every view here is wrapped in the admin site's `admin_view` (staff
only) by knowledge/admin_urls.py, and checks the model permission it needs."""

import contextlib
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from knowledge.adapter import example_confirm
from knowledge.faq_files import FAQ_COLUMNS, RowError, faq_rows_from_file
from knowledge.forms import FaqImportForm, PromptPreviewForm, TryItForm
from knowledge.models import Document, FaqEntry, PromptTemplate
from knowledge.prompts import prompt_activate, prompt_active_text, prompt_preview
from knowledge.search import knowledge_search, route_reason
from knowledge.services import faq_import
from sites.models import Site

IMPORT_SESSION_KEY = "knowledge_faq_import"
IMPORT_STASH_DIR = "faq-imports"
IMPORT_STASH_MAX_AGE = timedelta(days=1)
ROUTE_LABELS = {
    "fast_path": "Fast path: the FAQ answer is sent as is, without the model",
    "grounded": "Grounded answer: the model answers from the sources below, citing them",
    "no_answer": "No answer: nothing relevant; the assistant says so and offers a human",
}


def admin_context(
    request: HttpRequest, model_admin: admin.ModelAdmin, title: str, **extra: Any
) -> dict[str, Any]:
    """What the admin's base templates expect, for a page of `model_admin`'s model."""
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": title,
        "has_view_permission": model_admin.has_view_permission(request),
        "media": model_admin.media,
        **extra,
    }


# --- FAQ import: upload -> preview (dry run) -> confirm -> report ---------------------------


def _stash_put(request: HttpRequest, *, site: Site, name: str, data: bytes) -> str:
    """Keep the uploaded bytes between preview and confirm, under a random token."""
    _stash_drop(request)
    _stash_sweep()
    token = secrets.token_urlsafe(16)
    path = default_storage.save(f"{IMPORT_STASH_DIR}/{token}", ContentFile(data))
    request.session[IMPORT_SESSION_KEY] = {
        "token": token,
        "path": path,
        "name": name,
        "site_id": site.id,
    }
    return token


def _stash_take(request: HttpRequest, token: str) -> tuple[Site, str, bytes] | None:
    stash = request.session.get(IMPORT_SESSION_KEY)
    if not stash or not secrets.compare_digest(stash["token"], token):
        return None
    site = Site.objects.filter(id=stash["site_id"]).first()
    try:
        with default_storage.open(stash["path"], "rb") as stored:
            data = stored.read()
    except OSError:
        return None
    _stash_drop(request)
    return (site, stash["name"], data) if site else None


def _stash_sweep() -> None:
    """Forget the previews nobody confirmed within a day."""
    cutoff = timezone.now() - IMPORT_STASH_MAX_AGE
    try:
        _, names = default_storage.listdir(IMPORT_STASH_DIR)
    except FileNotFoundError:
        return
    for name in names:
        path = f"{IMPORT_STASH_DIR}/{name}"
        with contextlib.suppress(FileNotFoundError):
            if default_storage.get_modified_time(path) < cutoff:
                default_storage.delete(path)


def _stash_drop(request: HttpRequest) -> None:
    stash = request.session.pop(IMPORT_SESSION_KEY, None)
    if stash:
        default_storage.delete(stash["path"])


def faq_import_view(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    if request.method == "POST" and "token" in request.POST:
        return _faq_import_confirm(request, model_admin)
    form = FaqImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        name, data, site = upload.name, upload.read(), form.cleaned_data["site"]
        rows, errors = faq_rows_from_file(name, data)
        file_errors = [e.message for e in errors if e.row == 0]
        if file_errors or not (rows or errors):
            form.add_error("file", " ".join(file_errors) or "The file has no FAQ rows.")
        else:
            report = faq_import(site=site, rows=rows, dry_run=True)
            context = {
                "site": site,
                "file_name": name,
                "token": _stash_put(request, site=site, name=name, data=data),
                "rows": _rows_with_errors(rows, [*errors, *report.errors]),
                "report": report,
                "failed": len({e.row for e in [*errors, *report.errors]}),
                "importable": report.created + report.updated,
                "columns": FAQ_COLUMNS,
            }
            title = f"Import FAQ: preview of {name}"
            return render(
                request,
                "knowledge/admin/faq_import_preview.html",
                admin_context(request, model_admin, title, **context),
            )
    context = admin_context(request, model_admin, "Import FAQ", form=form)
    return render(request, "knowledge/admin/faq_import.html", context)


def _faq_import_confirm(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    stashed = _stash_take(request, request.POST["token"])
    if stashed is None:
        messages.error(request, "This import expired or was already done; upload the file again.")
        return HttpResponseRedirect(reverse("admin:knowledge_faqentry_import"))
    site, name, data = stashed
    rows, errors = faq_rows_from_file(name, data)
    report = faq_import(site=site, rows=rows, dry_run=False)
    all_errors = sorted([*errors, *report.errors], key=lambda e: e.row)
    context = {"site": site, "file_name": name, "report": report, "errors": all_errors}
    return render(
        request,
        "knowledge/admin/faq_import_done.html",
        admin_context(request, model_admin, f"Import FAQ: {name} imported", **context),
    )


def _rows_with_errors(rows: list[dict[str, Any]], errors: list[RowError]) -> list[dict[str, Any]]:
    """The parsed rows for the preview table, each with the messages about it."""
    by_row: dict[int, list[str]] = {}
    for error in errors:
        by_row.setdefault(error.row, []).append(error.message)
    items = []
    for index, row in enumerate(rows):
        number = row.get("_row", index + 1)
        cells = [_cell(row.get(column)) for column in FAQ_COLUMNS]
        items.append({"number": number, "cells": cells, "errors": by_row.pop(number, [])})
    items += [{"number": n, "cells": None, "errors": msgs} for n, msgs in by_row.items()]
    return sorted(items, key=lambda item: item["number"])


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return " | ".join(str(item) for item in value)
    return "" if value is None else str(value)


# --- Try it -------------------------------------------------------------------------------


@require_GET
def try_it_view(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    form = TryItForm(request.GET or None)
    result = None
    if form.is_valid():
        site, question = form.cleaned_data["site"], form.cleaned_data["question"]
        result = knowledge_search(site=site, query=question, k=10)
    context = {
        "form": form,
        "result": result,
        "route_label": ROUTE_LABELS.get(result.route, "") if result else "",
        "route_reason": route_reason(result) if result else "",
    }
    title = "Try it: what the assistant finds"
    context = admin_context(request, model_admin, title, **context)
    return render(request, "knowledge/admin/try_it.html", context)


def id_number(value: str | None) -> int:
    """An id from a request parameter; 0 (no row) when it is missing or not a number."""
    return int(value) if value and value.isdigit() else 0


@require_POST
def try_it_confirm_view(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    """ "This answers it": the question is kept for the FAQ (searched as one of its phrasings,
    and training data of the site's adapter)."""
    faq = get_object_or_404(FaqEntry, pk=id_number(request.POST.get("faq_id")))
    if not model_admin.has_change_permission(request, faq):
        raise PermissionDenied
    question = request.POST.get("question", "").strip()
    if question:
        example_confirm(faq=faq, question=question, user=request.user)
        messages.success(
            request,
            f"Saved: “{faq.question}” answers “{question}”. The site's search learns from it "
            "in its next training (a few seconds in the background).",
        )
    query = urlencode({"site": faq.site_id, "question": question})
    return HttpResponseRedirect(f"{reverse('admin:knowledge_faqentry_try')}?{query}")


# --- Documents ----------------------------------------------------------------------------


@require_GET
def document_progress_view(
    request: HttpRequest, model_admin: admin.ModelAdmin, document_id: int
) -> HttpResponse:
    """The status cell of one document; htmx polls it while the document is being indexed."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    document = get_object_or_404(Document, id=document_id)
    return render(request, "knowledge/admin/document_progress.html", {"document": document})


# --- Prompts ------------------------------------------------------------------------------


def prompt_preview_view(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    form = PromptPreviewForm(request.POST or None, initial=_preview_initial(request))
    preview = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        preview = prompt_preview(
            site=data["site"],
            kind=data["kind"],
            text=data["text"],
            question=data["question"],
            sources=form.source_list(),
        )
    context = admin_context(request, model_admin, "Preview a prompt", form=form, preview=preview)
    return render(request, "knowledge/admin/prompt_preview.html", context)


def _preview_initial(request: HttpRequest) -> dict[str, Any]:
    template_id = request.GET.get("template", "")
    template = PromptTemplate.objects.filter(id=template_id).first() if template_id else None
    if template is not None:
        initial = PromptPreviewForm.initial_for(template.kind, template.text)
        return {"site": template.site_id, **initial}
    site = Site.objects.order_by("name").first()
    kind = request.GET.get("kind", PromptTemplate.Kind.SYSTEM)
    if kind not in PromptTemplate.Kind.values:
        raise Http404("No such prompt kind.")
    text = prompt_active_text(site=site, kind=kind) if site else ""
    return {"site": site, **PromptPreviewForm.initial_for(kind, text)}


@require_POST
def prompt_activate_view(
    request: HttpRequest, model_admin: admin.ModelAdmin, template_id: int
) -> HttpResponse:
    if not request.user.has_perm("knowledge.change_prompttemplate"):
        raise PermissionDenied
    template = get_object_or_404(PromptTemplate, id=template_id)
    prompt_activate(template=template)
    messages.success(request, f"{template} is now in use.")
    return HttpResponseRedirect(reverse("admin:knowledge_prompttemplate_changelist"))
