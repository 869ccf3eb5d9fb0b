"""Admin of the knowledge base. Every write goes through the services, so embeddings and the
search indexes follow on commit; the extra pages are in knowledge/views.py."""

from collections import defaultdict
from typing import Any

from django.contrib import admin, messages
from django.db import models, transaction
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import URLPattern
from django.utils import timezone

from knowledge.adapter import adapter_train_later
from knowledge.admin_urls import document_admin_urls, faq_admin_urls, prompt_admin_urls
from knowledge.documents import document_create, document_delete, document_reindex
from knowledge.faq_files import FAQ_COLUMNS, faq_export_csv, faq_export_jsonl
from knowledge.forms import (
    DocumentUploadForm,
    FaqEntryForm,
    KnowledgeSettingsForm,
    PromptTemplateForm,
)
from knowledge.index import knowledge_changed
from knowledge.models import (
    Document,
    FaqEntry,
    FaqExample,
    KnowledgeSettings,
    PromptTemplate,
    QueryAdapter,
)
from knowledge.prompts import (
    prompt_activate,
    prompt_active_text,
    prompt_deactivate,
    prompt_default,
    prompt_version_create,
)
from knowledge.services import (
    faq_create,
    faq_delete,
    faq_embed_schedule,
    faq_set_enabled,
    faq_update,
)
from knowledge.views import id_number
from sites.models import Site

FAQ_FIELDS = ("external_id", "question", "alt_questions", "answer", "tags", "language", "enabled")


def _adopt(obj: models.Model, stored: models.Model) -> None:
    """Give the admin's unsaved instance the values a service stored, for its messages."""
    for field in obj._meta.concrete_fields:
        setattr(obj, field.attname, getattr(stored, field.attname))
    obj._state.adding = False


def _download(body: str, name: str, content_type: str) -> HttpResponse:
    response = HttpResponse(body, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class KnowledgeAdmin(admin.ModelAdmin):
    class Media:
        js = ("vendor/htmx.min.js",)
        css = {"all": ("knowledge/admin.css",)}


def faq_export_rows(queryset: QuerySet[FaqEntry]) -> list[dict[str, Any]]:
    """Selected entries as import rows, in the columns of `faq_export`."""
    rows = []
    for faq in queryset.order_by("site_id", "id"):
        values = {"faq_id": faq.external_id, **{c: getattr(faq, c) for c in FAQ_COLUMNS[1:]}}
        rows.append({column: values[column] for column in FAQ_COLUMNS})
    return rows


@admin.register(FaqEntry)
class FaqEntryAdmin(KnowledgeAdmin):
    form = FaqEntryForm
    list_display = ("question", "language", "tag_list", "enabled", "updated_at")
    list_filter = ("site", "language", "enabled")
    search_fields = ("question", "answer", "alt_questions")
    actions = ("enable_selected", "disable_selected", "export_csv", "export_jsonl")
    change_list_template = "knowledge/admin/faq_change_list.html"

    def get_urls(self) -> list[URLPattern]:
        return [*faq_admin_urls(self), *super().get_urls()]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # move an entry by export and import
        return ("site", "confirmed_questions") if obj is not None else ()

    @admin.display(description="questions staff confirmed (train the site's search)")
    def confirmed_questions(self, faq: FaqEntry) -> str:
        texts = list(faq.examples.values_list("text", flat=True)[:50])
        return "\n".join(texts) if texts else "none yet: confirm questions in Try it"

    @admin.display(description="tags")
    def tag_list(self, faq: FaqEntry) -> str:
        return ", ".join(faq.tags or [])

    def save_model(self, request: HttpRequest, obj: FaqEntry, form: Any, change: bool) -> None:
        fields = {name: form.cleaned_data[name] for name in FAQ_FIELDS}
        if change:
            # The stored row, not the form's edited copy: the service compares phrasings.
            faq_update(faq=FaqEntry.objects.get(pk=obj.pk), **fields)
        else:
            _adopt(obj, faq_create(site=form.cleaned_data["site"], **fields))

    def delete_model(self, request: HttpRequest, obj: FaqEntry) -> None:
        faq_delete(faq=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[FaqEntry]) -> None:
        with transaction.atomic():
            for faq in queryset:
                faq_delete(faq=faq)

    def _enabled_set(self, request: HttpRequest, queryset: QuerySet[FaqEntry], on: bool) -> None:
        by_site: dict[int, list[int]] = defaultdict(list)
        for faq_id, site_id in queryset.values_list("id", "site_id"):
            by_site[site_id].append(faq_id)
        changed = sum(
            faq_set_enabled(site, by_site[site.id], on)
            for site in Site.objects.filter(id__in=by_site)
        )
        state = "enabled" if on else "disabled"
        self.message_user(request, f"{changed} FAQ entries {state}.", messages.SUCCESS)

    @admin.action(description="Enable selected FAQ entries", permissions=["change"])
    def enable_selected(self, request: HttpRequest, queryset: QuerySet[FaqEntry]) -> None:
        self._enabled_set(request, queryset, True)

    @admin.action(description="Disable selected FAQ entries", permissions=["change"])
    def disable_selected(self, request: HttpRequest, queryset: QuerySet[FaqEntry]) -> None:
        self._enabled_set(request, queryset, False)

    @admin.action(description="Export selected FAQ entries as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet[FaqEntry]) -> HttpResponse:
        name = f"faq-{timezone.now():%Y%m%d-%H%M}.csv"
        return _download(faq_export_csv(faq_export_rows(queryset)), name, "text/csv")

    @admin.action(description="Export selected FAQ entries as JSONL")
    def export_jsonl(self, request: HttpRequest, queryset: QuerySet[FaqEntry]) -> HttpResponse:
        name = f"faq-{timezone.now():%Y%m%d-%H%M}.jsonl"
        body = faq_export_jsonl(faq_export_rows(queryset))
        return _download(body, name, "application/jsonl")


@admin.register(Document)
class DocumentAdmin(KnowledgeAdmin):
    list_display = ("title", "site", "indexing", "passage_count", "created_at")
    list_filter = ("site", "status")
    search_fields = ("title",)
    actions = ("reindex_selected",)
    change_list_template = "knowledge/admin/document_change_list.html"
    details = ("site", "file", "indexing", "passage_count", "language", "error", "created_at")

    def get_urls(self) -> list[URLPattern]:
        return [*document_admin_urls(self), *super().get_urls()]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Document]:
        return super().get_queryset(request).annotate(passage_total=Count("passages"))

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = DocumentUploadForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("site", "title", "file") if obj is None else ("title", *self.details)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return () if obj is None else self.details

    @admin.display(description="status")
    def indexing(self, document: Document) -> str:
        return render_to_string("knowledge/admin/document_progress.html", {"document": document})

    @admin.display(description="passages", ordering="passage_total")
    def passage_count(self, document: Document) -> int:
        total = getattr(document, "passage_total", None)
        return document.passages.count() if total is None else int(total)

    def save_model(self, request: HttpRequest, obj: Document, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            site_id, document_id = obj.site_id, obj.id  # passages show the document's title
            transaction.on_commit(lambda: knowledge_changed(site_id, document_ids=[document_id]))
            return
        data = form.cleaned_data
        created = document_create(site=data["site"], title=data["title"], upload=data["file"])
        _adopt(obj, created)

    def delete_model(self, request: HttpRequest, obj: Document) -> None:
        document_delete(document=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        with transaction.atomic():
            for document in queryset:
                document_delete(document=document)

    @admin.action(description="Re-index selected documents", permissions=["change"])
    def reindex_selected(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        for document in queryset:
            document_reindex(document=document)
        self.message_user(request, f"{len(queryset)} documents queued for indexing.")


@admin.register(PromptTemplate)
class PromptTemplateAdmin(KnowledgeAdmin):
    form = PromptTemplateForm
    list_display = (
        "__str__",
        "site",
        "kind",
        "version",
        "active",
        "note",
        "created_by",
        "created_at",
    )
    list_filter = ("site", "kind", "active")
    actions = ("activate_selected", "use_default")
    change_list_template = "knowledge/admin/prompt_change_list.html"
    change_form_template = "knowledge/admin/prompt_change_form.html"
    readonly_fields = (
        "site",
        "kind",
        "version",
        "active",
        "text",
        "note",
        "created_by",
        "created_at",
    )

    def get_urls(self) -> list[URLPattern]:
        return [*prompt_admin_urls(self), *super().get_urls()]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A version's text never changes: write a new version instead.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # versions are the history that rollback needs

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ("site", "kind", "text", "note", "activate")
        return self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return () if obj is None else self.readonly_fields

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        source = PromptTemplate.objects.filter(id=id_number(request.GET.get("copy"))).first()
        if source is not None:
            note = f"Edited from v{source.version}"
            return {"site": source.site_id, "kind": source.kind, "text": source.text, "note": note}
        kind = request.GET.get("kind", PromptTemplate.Kind.SYSTEM)
        kind = kind if kind in PromptTemplate.Kind.values else PromptTemplate.Kind.SYSTEM
        site = Site.objects.filter(id=id_number(request.GET.get("site"))).first()
        text = prompt_active_text(site=site, kind=kind) if site else prompt_default(kind)
        return {"site": site, "kind": kind, "text": text}

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        created = prompt_version_create(
            site=data["site"],
            kind=data["kind"],
            text=data["text"],
            note=data["note"],
            user=request.user,
            activate=data["activate"],
        )
        _adopt(obj, created)

    @admin.action(
        description="Activate the selected version (or roll back to it)", permissions=["change"]
    )
    def activate_selected(self, request: HttpRequest, queryset: QuerySet[PromptTemplate]) -> None:
        chosen = list(queryset)
        if len({(t.site_id, t.kind) for t in chosen}) != len(chosen):
            self.message_user(
                request, "Choose one version per site and kind to activate.", messages.ERROR
            )
            return
        with transaction.atomic():
            for template in chosen:
                prompt_activate(template=template)
        names = ", ".join(str(t) for t in chosen)
        self.message_user(request, f"Now in use: {names}.", messages.SUCCESS)

    @admin.action(
        description="Stop using these prompts (back to the built-in default)",
        permissions=["change"],
    )
    def use_default(self, request: HttpRequest, queryset: QuerySet[PromptTemplate]) -> None:
        pairs = set(queryset.values_list("site_id", "kind"))
        for site in Site.objects.filter(id__in={site_id for site_id, _ in pairs}):
            for kind in {k for s, k in pairs if s == site.id}:
                prompt_deactivate(site=site, kind=kind)
        self.message_user(request, "Those sites now use the built-in default prompts.")


@admin.register(KnowledgeSettings)
class KnowledgeSettingsAdmin(admin.ModelAdmin):
    form = KnowledgeSettingsForm
    list_display = ("site", "fast_path_threshold", "no_answer_threshold")


@admin.register(QueryAdapter)
class QueryAdapterAdmin(admin.ModelAdmin):
    """Each site's query adapter: when it was trained, on what, and how it measured."""

    list_display = (
        "site", "active", "trained_at", "faqs", "questions",
        "held_out_hit1_before", "held_out_hit1_after",
    )  # fmt: skip
    fields = list_display
    readonly_fields = list_display
    actions = ("train_now",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # trained from the site's data, never written by hand

    @admin.action(description="Train again now")
    def train_now(self, request: HttpRequest, queryset: QuerySet[QueryAdapter]) -> None:
        for site_id in queryset.values_list("site_id", flat=True):
            adapter_train_later(site_id)
        self.message_user(request, "Training queued on the batch worker.")


@admin.register(FaqExample)
class FaqExampleAdmin(admin.ModelAdmin):
    """Questions staff confirmed for an FAQ in Try it; deleting one takes it out of the search
    and retrains the site's adapter without it."""

    list_display = ("text", "faq", "site", "created_by", "created_at")
    list_filter = ("site",)
    search_fields = ("text", "faq__question")
    fields = list_display
    readonly_fields = list_display

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # added from Try it, with the question a customer asked

    def delete_model(self, request: HttpRequest, obj: FaqExample) -> None:
        super().delete_model(request, obj)
        transaction.on_commit(lambda: faq_embed_schedule([obj.faq_id]))  # then retrains

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[FaqExample]) -> None:
        faqs = list(set(queryset.values_list("faq_id", flat=True)))
        super().delete_queryset(request, queryset)
        transaction.on_commit(lambda: faq_embed_schedule(faqs))
