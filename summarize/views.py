"""The summarize page (staff): paste or upload, choose, watch the summary stream in."""

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from summarize.api import summary_json
from summarize.models import Summary
from summarize.selectors import summary_get, summary_list


@staff_member_required
@require_GET
def summarize_page(request: HttpRequest, summary_id: str = "") -> HttpResponse:
    current = None
    if summary_id:
        current = summary_get(summary_id=summary_id, site=None)
        if current is None:
            raise Http404("No such summary.")
    return render(
        request,
        "summarize/page.html",
        {
            "summaries": summary_list(),
            "current": current,
            "current_json": summary_json(current, with_socket=True) if current else None,
            "lengths": Summary.Length.choices,
            "max_bytes": settings.SUMMARY_MAX_BYTES,
        },
    )
