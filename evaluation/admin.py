"""Evaluation reports in the admin: read-only, with a history chart per task and dataset.

The charts are inline SVG drawn by the template from points computed here; no JavaScript.
"""

import json
from dataclasses import dataclass, field
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html

from evaluation.models import EvaluationReport

CHART_SERIES = (("hit@1", "#1f77b4"), ("mrr", "#2ca02c"), ("oos_recall", "#d62728"))
CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 480, 160, 28
CHART_RUNS = 30  # newest runs drawn per chart
CHART_GROUPS = 8  # charts on one page


@dataclass
class ChartPoint:
    x: float
    y: float
    label: str


@dataclass
class ChartSeries:
    name: str
    color: str
    points: list[ChartPoint] = field(default_factory=list)

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass
class HistoryChart:
    task: str
    dataset: str
    first: str
    last: str
    series: list[ChartSeries]
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    pad: int = CHART_PAD

    @property
    def gridlines(self) -> list[dict[str, Any]]:
        return [{"y": self._y(v), "label": f"{v:.1f}"} for v in (0.0, 0.5, 1.0)]

    def _y(self, value: float) -> float:
        return round(self.height - self.pad - value * (self.height - 2 * self.pad), 1)


def history_chart(task: str, dataset: str, reports: list[EvaluationReport]) -> HistoryChart:
    """A chart of one task+dataset's figures, oldest run left; figures lie in [0, 1]."""
    chart = HistoryChart(
        task=task,
        dataset=dataset,
        first=f"{reports[0].created_at:%Y-%m-%d}",
        last=f"{reports[-1].created_at:%Y-%m-%d}",
        series=[],
    )
    span = max(len(reports) - 1, 1)
    x_room = chart.width - 2 * chart.pad
    for name, color in CHART_SERIES:
        series = ChartSeries(name, color)
        for i, report in enumerate(reports):
            value = report.metrics.get(name)
            if isinstance(value, int | float):
                x = chart.pad + (x_room * i / span if len(reports) > 1 else x_room / 2)
                label = f"{name} {value:.3f} on {report.created_at:%Y-%m-%d %H:%M}"
                series.points.append(ChartPoint(round(x, 1), chart._y(float(value)), label))
        if series.points:
            chart.series.append(series)
    return chart


def history_charts(reports: QuerySet[EvaluationReport]) -> list[HistoryChart]:
    """One chart per task+dataset, the most recently run first."""
    groups = reports.order_by().values_list("task", "dataset").distinct()
    charts = []
    for task, dataset in list(groups):
        runs = list(reports.filter(task=task, dataset=dataset).order_by("-created_at")[:CHART_RUNS])
        charts.append((runs[0].created_at, history_chart(task, dataset, runs[::-1])))
    charts.sort(key=lambda pair: pair[0], reverse=True)
    return [chart for _, chart in charts[:CHART_GROUPS]]


def metric_column(name: str, description: str) -> Any:
    @admin.display(description=description)
    def column(report: EvaluationReport) -> str:
        value = report.metrics.get(name)
        return f"{value:.3f}" if isinstance(value, int | float) else "–"

    return column


@admin.register(EvaluationReport)
class EvaluationReportAdmin(admin.ModelAdmin):
    change_list_template = "evaluation/report_change_list.html"
    list_display = (
        "created_at",
        "task",
        "dataset",
        metric_column("hit@1", "hit@1"),
        metric_column("mrr", "MRR"),
        metric_column("oos_recall", "OOS recall"),
        metric_column("latency_ms_p50", "p50 ms"),
    )
    list_filter = ("task", "dataset")
    date_hierarchy = "created_at"
    fields = ("task", "dataset", "created_at", "metrics_pretty", "params_pretty")
    readonly_fields = fields

    @admin.display(description="metrics")
    def metrics_pretty(self, report: EvaluationReport) -> str:
        return format_html("<pre>{}</pre>", json.dumps(report.metrics, indent=2))

    @admin.display(description="params")
    def params_pretty(self, report: EvaluationReport) -> str:
        return format_html("<pre>{}</pre>", json.dumps(report.params, indent=2))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> TemplateResponse:
        reports = self.get_queryset(request)
        for param, lookup in (("task__exact", "task"), ("dataset__exact", "dataset")):
            if value := request.GET.get(param):
                reports = reports.filter(**{lookup: value})
        context = {**(extra_context or {}), "history_charts": history_charts(reports)}
        return super().changelist_view(request, extra_context=context)  # type: ignore[return-value]
