"""The company's own knowledge: FAQ entries, documents split into passages, prompt
templates, and the per-site retrieval thresholds. Every row belongs to one site."""

from django.conf import settings
from django.db import models

from sites.models import Site


class FaqEntry(models.Model):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="faqs")
    # The id the customer's own system uses (`faq_id` in imports); unique per site when set.
    external_id = models.CharField(max_length=200, blank=True)
    question = models.TextField()
    alt_questions = models.JSONField(default=list, blank=True)
    answer = models.TextField(help_text="Markdown. Returned verbatim on the fast path.")
    tags = models.JSONField(default=list, blank=True)
    language = models.CharField(max_length=16, blank=True, help_text="e.g. en, zh; blank: any")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "FAQ entry"
        verbose_name_plural = "FAQ entries"
        ordering = ("id",)
        constraints = [
            models.UniqueConstraint(
                fields=["site", "external_id"],
                condition=~models.Q(external_id=""),
                name="faq_external_id_once_per_site",
            )
        ]

    def __str__(self) -> str:
        return self.question[:80]

    def phrasings(self) -> list[str]:
        return [self.question, *[q for q in self.alt_questions if isinstance(q, str) and q]]


class FaqVector(models.Model):
    """The embedding (float32, L2-normalized) of one phrasing of an FAQ's question, of a
    question staff confirmed for it, or of one piece of its answer: questions are matched to
    answers too (knowledge.search)."""

    class Kind(models.TextChoices):
        PHRASING = "phrasing"
        ANSWER = "answer"
        EXAMPLE = "example"  # a question staff confirmed for the FAQ (FaqExample)

    faq = models.ForeignKey(FaqEntry, on_delete=models.CASCADE, related_name="vectors")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PHRASING)
    text = models.TextField()
    vector = models.BinaryField()
    # BM25 tokens, space-separated; null (rows from before) means: tokenize on load.
    tokens = models.TextField(null=True, blank=True)  # noqa: DJ001 - null is not ""

    def __str__(self) -> str:
        return self.text[:80]


class Document(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        INDEXING = "indexing"
        READY = "ready"
        FAILED = "failed"

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="documents")
    title = models.CharField(max_length=300)
    file = models.FileField(upload_to="documents/%Y/%m/")
    content_type = models.CharField(max_length=100, blank=True)
    language = models.CharField(max_length=16, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent indexed.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return self.title


class Passage(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="passages")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="passages")
    position = models.PositiveIntegerField()
    text = models.TextField()
    vector = models.BinaryField(null=True, blank=True)
    # BM25 tokens, space-separated; null (rows from before) means: tokenize on load.
    tokens = models.TextField(null=True, blank=True)  # noqa: DJ001 - null is not ""

    class Meta:
        ordering = ("document_id", "position")

    def __str__(self) -> str:
        return f"{self.document_id}#{self.position}: {self.text[:60]}"


class PromptTemplate(models.Model):
    """A versioned prompt of a site; the chat uses the active version of each kind."""

    class Kind(models.TextChoices):
        SYSTEM = "system", "System prompt"
        GROUNDED = "grounded", "Grounded-answer prompt"

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="prompt_templates")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    version = models.PositiveIntegerField()
    text = models.TextField()
    active = models.BooleanField(default=False)
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("site", "kind", "-version")
        constraints = [
            models.UniqueConstraint(fields=["site", "kind", "version"], name="prompt_version_once"),
            models.UniqueConstraint(
                fields=["site", "kind"],
                condition=models.Q(active=True),
                name="prompt_one_active_per_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.site} {self.kind} v{self.version}"


class KnowledgeSettings(models.Model):
    """Per-site retrieval thresholds; blank fields use the calibrated defaults in settings."""

    site = models.OneToOneField(Site, on_delete=models.CASCADE, related_name="knowledge_settings")
    fast_path_threshold = models.FloatField(null=True, blank=True)
    no_answer_threshold = models.FloatField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "knowledge settings"

    def __str__(self) -> str:
        return f"Knowledge settings of {self.site}"


class FaqExample(models.Model):
    """A question staff said an FAQ answers (confirmed or corrected in the admin's Try it):
    searched like one more phrasing of the FAQ, and training data for the site's query
    adapter. The FAQ itself stays as written."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="faq_examples")
    faq = models.ForeignKey(FaqEntry, on_delete=models.CASCADE, related_name="examples")
    text = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "FAQ example"
        verbose_name_plural = "FAQ examples"
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(fields=["faq", "text"], name="faq_example_once"),
        ]

    def __str__(self) -> str:
        return self.text[:80]


class QueryAdapter(models.Model):
    """The site's trained query adapter (knowledge.adapter) and how it measured."""

    site = models.OneToOneField(Site, on_delete=models.CASCADE, related_name="query_adapter")
    weights = models.BinaryField(blank=True)  # a 512 x 512 float32 .npy; empty when not kept
    active = models.BooleanField(default=False)
    trained_at = models.DateTimeField()
    questions = models.PositiveIntegerField(default=0)
    faqs = models.PositiveIntegerField(default=0)
    held_out_hit1_before = models.FloatField(null=True, blank=True)
    held_out_hit1_after = models.FloatField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Query adapter of {self.site}"
