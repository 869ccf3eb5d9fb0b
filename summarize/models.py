"""Summaries of documents, pasted text and conversations, and the steps of long ones."""

import uuid

from django.conf import settings
from django.db import models

from chat.models import AnswerStatus, Conversation, Generation
from sites.models import Site


class Summary(models.Model):
    class Length(models.TextChoices):
        ONE_LINE = "one_line", "One line"
        SHORT = "short", "Short"
        BULLETS = "bullets", "Bullet points"

    class Kind(models.TextChoices):
        DOCUMENT = "document"
        DIALOGUE = "dialogue"

    class Method(models.TextChoices):
        MODEL = "model"
        EXTRACTIVE = "extractive"

    Status = AnswerStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="summaries")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # Set for a conversation's summary (the latest one is the conversation's).
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="summaries"
    )
    generation = models.OneToOneField(
        Generation, null=True, on_delete=models.SET_NULL, related_name="summary"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.DOCUMENT)
    length = models.CharField(max_length=16, choices=Length.choices, default=Length.SHORT)
    structured = models.BooleanField(
        default=False, help_text="A dialogue's request, what was tried, outcome, next steps."
    )
    language = models.CharField(max_length=16, help_text="Of the summary: en or zh.")
    title = models.CharField(max_length=200, blank=True, help_text="The file's name, if any.")
    source_text = models.TextField()
    text = models.TextField(blank=True)
    method = models.CharField(max_length=16, choices=Method.choices, blank=True)
    status = models.CharField(
        max_length=16, choices=AnswerStatus.choices, default=AnswerStatus.QUEUED
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at",)
        verbose_name_plural = "summaries"

    def __str__(self) -> str:
        return self.title or self.source_text[:60]
