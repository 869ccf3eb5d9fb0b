"""Admin forms of the knowledge app: lists edited as plain text, uploads checked early."""

from pathlib import PurePath
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile

from knowledge.extract import FORMATS, DocumentUnreadable, document_format
from knowledge.models import Document, FaqEntry, KnowledgeSettings, PromptTemplate
from knowledge.prompts import prompt_default, prompt_text_validate
from sites.models import Site

FAQ_FILE_TYPES = (".csv", ".jsonl", ".xlsx")


def upload_check(upload: UploadedFile, allowed: tuple[str, ...]) -> UploadedFile:
    """Refuse a file of another type, or larger than the upload limit, before reading it."""
    suffix = PurePath(upload.name or "").suffix.lower()
    if suffix not in allowed:
        raise ValidationError(
            f"Files of type “{suffix or upload.name}” are not supported; "
            f"upload one of: {', '.join(allowed)}."
        )
    limit = settings.KNOWLEDGE_MAX_UPLOAD_BYTES
    if (upload.size or 0) > limit:
        raise ValidationError(f"The file is larger than {limit // (1024 * 1024)} MB.")
    if not upload.size:
        raise ValidationError("The file is empty.")
    return upload


def prompt_text_clean(form: forms.BaseForm, cleaned: dict[str, Any]) -> dict[str, Any]:
    """Check a prompt's text for its kind (placeholders), reporting on the text field."""
    if cleaned.get("kind") and cleaned.get("text"):
        try:
            cleaned["text"] = prompt_text_validate(kind=cleaned["kind"], text=cleaned["text"])
        except ValidationError as exc:
            form.add_error("text", exc)
    return cleaned


class FaqEntryForm(forms.ModelForm):
    alt_questions = forms.CharField(
        label="Other phrasings",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Other ways customers ask the same question, one a line.",
    )
    tags = forms.CharField(required=False, help_text="Comma-separated, e.g. billing, refunds.")

    class Meta:
        model = FaqEntry
        fields = (
            "site",
            "external_id",
            "question",
            "alt_questions",
            "answer",
            "tags",
            "language",
            "enabled",
        )
        widgets = {"question": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["alt_questions"] = "\n".join(self.instance.alt_questions or [])
            self.initial["tags"] = ", ".join(self.instance.tags or [])

    def clean_alt_questions(self) -> list[str]:
        lines = (line.strip() for line in self.cleaned_data["alt_questions"].splitlines())
        return list(dict.fromkeys(line for line in lines if line))

    def clean_tags(self) -> list[str]:
        tags = (tag.strip() for tag in self.cleaned_data["tags"].split(","))
        return list(dict.fromkeys(tag for tag in tags if tag))


class FaqImportForm(forms.Form):
    site = forms.ModelChoiceField(Site.objects.order_by("name"))
    file = forms.FileField(
        help_text="CSV, JSONL or XLSX with the columns faq_id, question, answer, "
        "alt_questions, tags, language, enabled."
    )

    def clean_file(self) -> UploadedFile:
        return upload_check(self.cleaned_data["file"], FAQ_FILE_TYPES)


class TryItForm(forms.Form):
    site = forms.ModelChoiceField(Site.objects.order_by("name"))
    question = forms.CharField(max_length=1000, widget=forms.TextInput(attrs={"size": 80}))


class DocumentUploadForm(forms.ModelForm):
    title = forms.CharField(max_length=300, required=False, help_text="Blank: the file name.")

    class Meta:
        model = Document
        fields = ("site", "title", "file")
        help_texts = {
            "file": "Text, Markdown, HTML, PDF or Word (.docx); "
            f"at most {settings.KNOWLEDGE_MAX_UPLOAD_BYTES // (1024 * 1024)} MB."
        }

    def clean_file(self) -> UploadedFile:
        upload = upload_check(self.cleaned_data["file"], tuple(FORMATS))
        reader = document_format(name=upload.name or "", content_type=upload.content_type or "")
        try:
            reader.check(upload.read())
        except DocumentUnreadable as exc:
            raise ValidationError(str(exc)) from exc
        finally:
            upload.seek(0)
        return upload


class PromptTemplateForm(forms.ModelForm):
    activate = forms.BooleanField(
        required=False, help_text="Use this version from now on (the chat picks it up at once)."
    )

    class Meta:
        model = PromptTemplate
        fields = ("site", "kind", "text", "note")
        widgets = {"text": forms.Textarea(attrs={"rows": 16, "cols": 100})}

    def clean(self) -> dict[str, Any]:
        return prompt_text_clean(self, super().clean() or {})

    def _post_clean(self) -> None:
        pass  # the version number is given by prompt_version_create, which validates the row


class PromptPreviewForm(forms.Form):
    site = forms.ModelChoiceField(Site.objects.order_by("name"))
    kind = forms.ChoiceField(choices=PromptTemplate.Kind.choices)
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 12, "cols": 100}))
    question = forms.CharField(
        initial="How long does a refund take?",
        max_length=1000,
        widget=forms.TextInput(attrs={"size": 80}),
    )
    sources = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 100}),
        initial="Refunds are paid within 5 business days of receiving the return.\n\n"
        "Returns are free within 30 days of delivery.",
        help_text="Sample sources, separated by a blank line. Leave empty for a plain chat.",
    )

    def clean(self) -> dict[str, Any]:
        return prompt_text_clean(self, super().clean() or {})

    def source_list(self) -> list[str]:
        blocks = self.cleaned_data.get("sources", "").replace("\r\n", "\n").split("\n\n")
        return [block.strip() for block in blocks if block.strip()]

    @staticmethod
    def initial_for(kind: str, text: str = "") -> dict[str, str]:
        return {"kind": kind, "text": text or prompt_default(kind)}


class KnowledgeSettingsForm(forms.ModelForm):
    class Meta:
        model = KnowledgeSettings
        fields = ("site", "fast_path_threshold", "no_answer_threshold")
        help_texts = {
            "fast_path_threshold": "Answer with the FAQ text as is at this similarity or above, "
            "for questions in any language (blank: "
            f"{settings.KNOWLEDGE_FAST_PATH_THRESHOLD}, Chinese "
            f"{settings.KNOWLEDGE_FAST_PATH_THRESHOLD_ZH}; the word agreement and the margin "
            "over the next closest FAQ are needed too).",
            "no_answer_threshold": "Below this FAQ confidence, say the answer is not known "
            f"(blank: {settings.KNOWLEDGE_NO_ANSWER_THRESHOLD}).",
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in ("fast_path_threshold", "no_answer_threshold"):
            value = cleaned.get(name)
            if value is not None and not 0 <= value <= 1:
                self.add_error(name, "A threshold lies between 0 and 1.")
        fast = cleaned.get("fast_path_threshold")
        if fast is None:
            fast = settings.KNOWLEDGE_FAST_PATH_THRESHOLD
        low = cleaned.get("no_answer_threshold")
        if low is None:
            low = settings.KNOWLEDGE_NO_ANSWER_THRESHOLD
        if not self.errors and low > fast:
            self.add_error("no_answer_threshold", "It must not be above the fast-path threshold.")
        return cleaned
