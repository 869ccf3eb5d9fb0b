"""Translations of text and documents, and the glossaries of each site."""

import uuid

from django.conf import settings
from django.db import models

from chat.models import AnswerStatus, Generation
from sites.models import Site


class Translation(models.Model):
    class Format(models.TextChoices):
        TEXT = "text"
        MARKDOWN = "markdown"
        HTML = "html"
        DOCX = "docx"

    Status = AnswerStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="translations")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    generation = models.OneToOneField(
        Generation, null=True, on_delete=models.SET_NULL, related_name="translation"
    )
    source_lang = models.CharField(max_length=16)
    detected_lang = models.CharField(max_length=16, blank=True)
    target_lang = models.CharField(max_length=16)
    format = models.CharField(max_length=16, choices=Format.choices, default=Format.TEXT)
    title = models.CharField(max_length=200, blank=True, help_text="The file's name, if any.")
    source_text = models.TextField()
    # An uploaded Word file, kept to write the translation back into it (docx only).
    source_file = models.BinaryField(blank=True, default=b"", editable=False)
    text = models.TextField(blank=True)
    # Terms given with the request, beside the site's glossary: [{"source", "target", "keep"}].
    glossary = models.JSONField(default=list, blank=True)
    # Terms the result did not respect: [{"term", "expected", "segment"}].
    glossary_misses = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=16, choices=AnswerStatus.choices, default=AnswerStatus.QUEUED
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return self.title or self.source_text[:60]


class GlossaryTerm(models.Model):
    """A term of a site's glossary: how to translate it, or that it stays as written."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="glossary_terms")
    source_lang = models.CharField(max_length=16, help_text="e.g. en")
    target_lang = models.CharField(max_length=16, help_text="e.g. zh")
    source = models.CharField(max_length=200)
    target = models.CharField(max_length=200, blank=True, help_text="Blank when kept as is.")
    keep = models.BooleanField(default=False, help_text="Do not translate (a product name).")
    case_sensitive = models.BooleanField(default=False)

    class Meta:
        ordering = ("site", "source_lang", "target_lang", "source")
        constraints = [
            models.UniqueConstraint(
                fields=["site", "source_lang", "target_lang", "source"], name="glossary_term_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source} -> {self.source if self.keep else self.target}"
