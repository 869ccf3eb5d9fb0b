import csv
import io
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path

from sites.models import Site
from translate.models import GlossaryTerm, Translation


class GlossaryImportForm(forms.Form):
    site = forms.ModelChoiceField(queryset=Site.objects.all())
    file = forms.FileField(
        help_text="CSV with a header: source_lang, target_lang, source, target, keep, "
        "case_sensitive (keep and case_sensitive: yes/no, optional)."
    )


@admin.register(GlossaryTerm)
class GlossaryTermAdmin(admin.ModelAdmin):
    list_display = (
        "source",
        "target",
        "keep",
        "case_sensitive",
        "source_lang",
        "target_lang",
        "site",
    )
    list_filter = ("site", "source_lang", "target_lang", "keep")
    search_fields = ("source", "target")
    change_list_template = "translate/glossary_changelist.html"

    def get_urls(self) -> list[Any]:
        extra = [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="translate_glossaryterm_import",
            )
        ]
        return extra + super().get_urls()

    def import_view(self, request: HttpRequest) -> HttpResponse:
        form = GlossaryImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                count = glossary_csv_import(
                    site=form.cleaned_data["site"], data=form.cleaned_data["file"].read()
                )
            except ValueError as exc:
                form.add_error("file", str(exc))
            else:
                self.message_user(request, f"{count} glossary terms imported.", messages.SUCCESS)
                return redirect("admin:translate_glossaryterm_changelist")
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "title": "Import a glossary",
        }
        return render(request, "translate/glossary_import.html", context)


def glossary_csv_import(*, site: Site, data: bytes) -> int:
    """Create or update the terms of a CSV; ValueError names the first bad row."""
    try:
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"Not a UTF-8 CSV file: {exc}") from exc
    yes = {"1", "yes", "true", "y", "x"}
    terms = []
    for n, row in enumerate(rows, start=2):
        source = (row.get("source") or "").strip()
        keep = (row.get("keep") or "").strip().lower() in yes
        target = (row.get("target") or "").strip()
        langs = (row.get("source_lang") or "").strip(), (row.get("target_lang") or "").strip()
        if not source or not all(langs) or not (keep or target):
            raise ValueError(
                f"Row {n}: needs source_lang, target_lang, source and a target (or keep)."
            )
        terms.append(
            (langs, source, target, keep, (row.get("case_sensitive") or "").strip().lower() in yes)
        )
    for (source_lang, target_lang), source, target, keep, case_sensitive in terms:
        GlossaryTerm.objects.update_or_create(
            site=site, source_lang=source_lang, target_lang=target_lang, source=source,
            defaults={"target": target, "keep": keep, "case_sensitive": case_sensitive},
        )  # fmt: skip
    return len(terms)


@admin.register(Translation)
class TranslationAdmin(admin.ModelAdmin):
    list_display = ("__str__", "source_lang", "target_lang", "format", "status", "created_at")
    list_filter = ("status", "source_lang", "target_lang", "format", "site")
    readonly_fields = (
        "id", "site", "owner", "generation", "source_lang", "detected_lang", "target_lang",
        "format", "title", "status", "glossary", "glossary_misses", "created_at", "text",
        "source_text",
    )  # fmt: skip
