from django.db import models


class EvaluationReport(models.Model):
    """One run of `manage.py evaluate`: its task, dataset, figures and when it ran."""

    task = models.CharField(max_length=32)  # "faq" now; later "summary", "translation"
    dataset = models.CharField(max_length=300)
    metrics = models.JSONField(default=dict)
    params = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.task} on {self.dataset} at {self.created_at:%Y-%m-%d %H:%M}"
