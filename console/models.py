"""The human side of a conversation: agents, the handoff's events, notes, canned
responses, the site's handoff rules and the examples its intent classifier learns from."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from chat.models import Conversation
from sites.models import Site


class AgentProfile(models.Model):
    """A person who answers visitors in the console, for the sites listed (the agent role).
    A superuser sees every site without one."""

    class Presence(models.TextChoices):
        ONLINE = "online"
        AWAY = "away"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent"
    )
    sites = models.ManyToManyField(Site, related_name="agents")
    display_name = models.CharField(
        max_length=100, blank=True, help_text="The name visitors see (blank: the username)."
    )
    # What the agent chose; they count as online only while a console is open (seen_at).
    presence = models.CharField(max_length=8, choices=Presence.choices, default=Presence.ONLINE)
    seen_at = models.DateTimeField(null=True, blank=True)
    max_open = models.PositiveSmallIntegerField(
        default=5, help_text="Open conversations auto-assignment gives this agent at most."
    )
    last_assigned_at = models.DateTimeField(null=True, blank=True)  # the round robin's turn
    sound = models.BooleanField(default=True, help_text="A sound when a visitor waits.")

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return self.display_name or self.user.get_username()


class HandoffEvent(models.Model):
    """One change of a conversation's state: from, to, who, why, when."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="handoff_events"
    )
    state_from = models.CharField(max_length=16)
    state_to = models.CharField(max_length=16)
    # who: an agent (actor), or "visitor", "assistant", "system"
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_kind = models.CharField(max_length=16)
    # why: visitor_request, repeated_no_answer, frustration, rule, assigned, transfer,
    # resolved, hand_back, visitor_returned
    reason = models.CharField(max_length=32)
    detail = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return f"{self.state_from} -> {self.state_to} ({self.reason})"


class ConversationNote(models.Model):
    """A private note of staff on a conversation: never sent to the visitor."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return self.text[:60]


class CannedResponse(models.Model):
    """A prepared reply an agent inserts with /shortcut."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="canned_responses")
    shortcut = models.SlugField(max_length=40)
    text = models.TextField()

    class Meta:
        ordering = ("shortcut",)
        constraints = [
            models.UniqueConstraint(fields=["site", "shortcut"], name="canned_shortcut_once")
        ]

    def __str__(self) -> str:
        return f"/{self.shortcut}"


class HandoffRule(models.Model):
    """Hand a conversation to a person when a visitor's message has this intent (the
    site's classifier), and, if set, names an amount of at least `min_amount`."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="handoff_rules")
    intent = models.CharField(max_length=40, help_text="A label of the classifier: refund, …")
    min_amount = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Only when the message names an amount at least this (blank: any).",
    )
    active = models.BooleanField(default=True)

    def __str__(self) -> str:
        amount = f" over {self.min_amount}" if self.min_amount is not None else ""
        return f"{self.intent}{amount}"


class IntentExample(models.Model):
    """A labelled visitor message the site's classifier learns from (with the shipped
    defaults). Staff add them and relabel visitors' messages in the admin."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="intent_examples")
    text = models.CharField(max_length=500)
    label = models.CharField(max_length=40)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("label", "id")

    def __str__(self) -> str:
        return f"{self.label}: {self.text[:60]}"


class IntentModel(models.Model):
    """A site's classifier head trained by the batch worker: exported weights (an .npz of
    numpy arrays) served with numpy, and how it scored on its held-out examples."""

    site = models.OneToOneField(Site, on_delete=models.CASCADE, related_name="intent_model")
    weights = models.BinaryField()
    labels = models.JSONField(default=list)
    examples = models.PositiveIntegerField(default=0)
    accuracy = models.FloatField(null=True, blank=True)
    trained_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"classifier of {self.site}"
