"""Admin of the intent classifier: a site's labelled examples (relabel in the list, import
CSV or JSON Lines, export), its trained model (read-only) and the action that trains it in
the batch worker; visitors' messages can be added as examples. Imported by console.admin."""

import csv
import io
import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from chat.models import Message
from console.intents import INTENT_LABELS, intent_model_train_later
from console.models import IntentExample, IntentModel
from sites.models import Site

MAX_IMPORT_BYTES = 5 * 1024 * 1024


class IntentImportForm(forms.Form):
    site = forms.ModelChoiceField(queryset=Site.objects.order_by("name"))
    file = forms.FileField(help_text="CSV with `text` and `label` columns, or JSON Lines.")

    def clean_file(self) -> list[tuple[str, str]]:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError("The file is larger than 5 MB.")
        try:
            raw = upload.read().decode("utf-8-sig")
            rows = intent_rows_parse(raw, jsonl=upload.name.lower().endswith((".jsonl", ".json")))
        except (UnicodeDecodeError, ValueError) as exc:
            raise forms.ValidationError(str(exc)) from exc
        if not rows:
            raise forms.ValidationError("No example in the file.")
        return rows


def intent_rows_parse(raw: str, *, jsonl: bool) -> list[tuple[str, str]]:
    """(text, label) rows of a CSV (a header with text and label) or JSON Lines file."""
    if jsonl:
        found = [json.loads(line) for line in raw.splitlines() if line.strip()]
    else:
        found = list(csv.DictReader(io.StringIO(raw)))
    rows = []
    for n, row in enumerate(found, start=1):
        text = str(row.get("text") or "").strip()
        label = str(row.get("label") or row.get("intent") or "").strip()
        if not text or not label:
            raise ValueError(f"Row {n} needs a text and a label.")
        rows.append((text[:500], label[:40]))
    return rows


@admin.register(IntentExample)
class IntentExampleAdmin(admin.ModelAdmin):
    list_display = ("text", "label", "site", "created_at")
    list_editable = ("label",)
    list_filter = ("label", "site")
    search_fields = ("text",)
    actions = ("train_sites", "export_jsonl")
    change_list_template = "console/admin/intent_example_change_list.html"

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}_import"
        view = self.admin_site.admin_view(self.import_view)
        return [path("import/", view, name=name), *super().get_urls()]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            return redirect("admin:console_intentexample_changelist")
        form = IntentImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            site = form.cleaned_data["site"]
            IntentExample.objects.bulk_create(
                IntentExample(site=site, text=text, label=label)
                for text, label in form.cleaned_data["file"]
            )
            self.message_user(
                request,
                f"{len(form.cleaned_data['file'])} examples added to {site}. Train the "
                "classifier to use them.",
                messages.SUCCESS,
            )
            return redirect("admin:console_intentexample_changelist")
        context = {**self.admin_site.each_context(request), "form": form, "opts": self.opts}
        context["title"] = "Import intent examples"
        return TemplateResponse(request, "console/admin/intent_import.html", context)

    @admin.action(description="Train the classifier of these examples' sites")
    def train_sites(self, request: HttpRequest, queryset: QuerySet[IntentExample]) -> None:
        site_ids = sorted(set(queryset.values_list("site_id", flat=True)))
        for site_id in site_ids:
            intent_model_train_later(site_id)
        self.message_user(
            request, f"Training queued for {len(site_ids)} site(s).", messages.SUCCESS
        )

    @admin.action(description="Export selected examples as JSON Lines")
    def export_jsonl(self, request: HttpRequest, queryset: QuerySet[IntentExample]) -> HttpResponse:
        body = "".join(
            json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n"
            for text, label in queryset.order_by("id").values_list("text", "label")
        )
        response = HttpResponse(body, content_type="application/jsonl; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="intent_examples.jsonl"'
        return response


@admin.register(IntentModel)
class IntentModelAdmin(admin.ModelAdmin):
    list_display = ("site", "examples", "accuracy", "label_list", "trained_at")
    readonly_fields = ("site", "label_list", "examples", "accuracy", "trained_at")
    fields = readonly_fields
    actions = ("train",)

    @admin.display(description="labels")
    def label_list(self, model: IntentModel) -> str:
        return ", ".join(model.labels)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Train the classifier", permissions=["view"])
    def train(self, request: HttpRequest, queryset: QuerySet[IntentModel]) -> None:
        site_ids = list(queryset.values_list("site_id", flat=True))
        for site_id in site_ids:
            intent_model_train_later(site_id)
        self.message_user(
            request, f"Training queued for {len(site_ids)} site(s).", messages.SUCCESS
        )


def _example_action(label: str) -> Any:
    @admin.action(description=f"Add as intent example: {label}")
    def add(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        if not request.user.has_perm("console.add_intentexample"):
            modeladmin.message_user(request, "You may not add intent examples.", messages.ERROR)
            return
        rows = queryset.filter(role=Message.Role.USER).values_list("conversation__site_id", "text")
        created = IntentExample.objects.bulk_create(
            IntentExample(site_id=site_id, text=text.strip()[:500], label=label)
            for site_id, text in rows
            if text.strip()
        )
        modeladmin.message_user(
            request, f"{len(created)} visitor messages added as {label}.", messages.SUCCESS
        )

    add.__name__ = f"add_intent_example_{label}"
    return add


MESSAGE_ACTIONS = tuple(_example_action(label) for label in INTENT_LABELS)


class VisitorMessageAdmin(admin.ModelAdmin):
    """Visitors' messages, read-only, to be added as intent examples."""

    list_display = ("text", "conversation", "created_at")
    list_filter = ("conversation__site",)
    search_fields = ("text",)
    actions = MESSAGE_ACTIONS

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        return super().get_queryset(request).filter(role=Message.Role.USER)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


if admin.site.is_registered(Message):  # another app's admin of messages: add our actions
    message_admin = admin.site.get_model_admin(Message)
    message_admin.actions = (*(message_admin.actions or ()), *MESSAGE_ACTIONS)
else:
    admin.site.register(Message, VisitorMessageAdmin)
