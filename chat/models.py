import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from sites.models import Site


class Conversation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="conversations")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
    )
    title = models.CharField(max_length=200, blank=True)
    # The site's own id of a visitor whose identity was verified (sites.access), so that
    # they find their conversations on any device; blank for anonymous visitors.
    visitor_id = models.CharField(max_length=200, blank=True, db_index=True)

    class State(models.TextChoices):
        """Who answers (console.handoff moves it, each change an event with who and why)."""

        BOT = "bot"  # the assistant
        WAITING = "waiting"  # a person was asked for: in the queue
        ASSIGNED = "assigned"  # an agent owns it; the assistant stays silent
        RESOLVED = "resolved"

    state = models.CharField(max_length=16, choices=State.choices, default=State.BOT, db_index=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
    state_changed_at = models.DateTimeField(default=timezone.now)  # a queue's age
    # What the visitor told us: the page they chat from, an email to be answered at.
    page_url = models.CharField(max_length=500, blank=True)
    contact_email = models.EmailField(blank=True)
    # The satisfaction survey after resolution: 1-5 and a comment.
    csat_score = models.PositiveSmallIntegerField(null=True, blank=True)
    csat_comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-updated_at",)

    def __str__(self) -> str:
        return self.title or f"Conversation {str(self.id)[:8]}"


class AnswerStatus(models.TextChoices):
    """The life of an answer; a message shows the status of the generation writing it."""

    QUEUED = "queued"
    STREAMING = "streaming"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"
        AGENT = "agent"  # a person of the staff, writing in the conversation

    Status = AnswerStatus

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    text = models.TextField(blank=True)
    status = models.CharField(
        max_length=16, choices=AnswerStatus.choices, default=AnswerStatus.DONE
    )
    # How an assistant answer was made: "fast_path" (an approved FAQ answer, verbatim),
    # "grounded" (the model, from retrieved knowledge), "no_answer", or "" (plain model chat).
    route = models.CharField(max_length=16, blank=True)
    # Numbered citations of a grounded answer: [{"n", "kind", "id", "title", "excerpt"}].
    sources = models.JSONField(default=list, blank=True)
    # Set by the client so that a message re-sent after a reconnect is stored once.
    client_id = models.CharField(max_length=64, blank=True)
    # Live translation (translate.live): the language of `text`; for a visitor's message,
    # its translation into the staff's language; for an agent's, what the agent wrote
    # (`original`) when `text` is its translation into the visitor's language.
    language = models.CharField(max_length=16, blank=True)
    translation = models.TextField(blank=True)
    translation_language = models.CharField(max_length=16, blank=True)
    original = models.TextField(blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("created_at", "id")
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=~models.Q(client_id=""),
                name="message_client_id_once_per_conversation",
            )
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.text[:60]}"


class Generation(models.Model):
    """One run of the model that writes one target, with its timings: an assistant message
    (kind "chat"), a summary, later a translation. What a kind does with its prompt and its
    final text is registered in chat.kinds; the runner, relay, cancel and reaper are shared."""

    Status = AnswerStatus

    FINAL = (Status.DONE, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=32, default="chat", db_index=True)
    # A chat answer's conversation and message; a job (a summary) has its own target row.
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="generations"
    )
    message = models.OneToOneField(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="generation"
    )
    status = models.CharField(
        max_length=16, choices=AnswerStatus.choices, default=AnswerStatus.QUEUED, db_index=True
    )
    queued_at = models.DateTimeField(default=timezone.now)
    # When its task was last sent to the broker (again, if the broker lost it).
    sent_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    first_token_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    dropped_messages = models.PositiveIntegerField(default=0)
    # Work in steps (a long summary's map step): steps done of total; 0 of 0 for one step.
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    # What retrieval found for the prompt: {"route", "sources": [...]} (see knowledge.search).
    context = models.JSONField(default=dict, blank=True)
    # What the client is told is the fixed text of error_code (webapp.errors); the detail
    # (an exception's text) is for staff in the admin and the log only.
    error_code = models.CharField(max_length=64, blank=True)
    error_detail = models.TextField(blank=True)

    class Meta:
        ordering = ("queued_at",)

    def __str__(self) -> str:
        return f"generation {self.id} ({self.status})"


class GenerationStep(models.Model):
    """One step of a generation that works in steps (chat.steps): a chunk of a long input
    and its result (a partial summary, a translated chunk), stored as each finishes. A
    level above 1 works on the joined results of the level below."""

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="steps")
    level = models.PositiveSmallIntegerField(default=1)
    position = models.PositiveIntegerField()
    text = models.TextField()
    result = models.TextField(blank=True)
    method = models.CharField(max_length=16, blank=True)  # how the result was made
    started_at = models.DateTimeField(null=True, blank=True)  # and the worker's heartbeat
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("level", "position")
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "level", "position"], name="generation_step_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.generation_id} step {self.level}.{self.position}"
