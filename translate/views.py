"""The translate page (staff): paste or upload, pick the languages, watch it stream in."""

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from translate.api import translation_json
from translate.languages import LANGUAGES
from translate.selectors import translation_get, translation_list


@staff_member_required
@require_GET
def translate_page(request: HttpRequest, translation_id: str = "") -> HttpResponse:
    current = None
    if translation_id:
        current = translation_get(translation_id=translation_id, site=None)
        if current is None:
            raise Http404("No such translation.")
    return render(
        request,
        "translate/page.html",
        {
            "translations": translation_list(),
            "current": current,
            "current_json": translation_json(current, with_socket=True) if current else None,
            "languages": list(LANGUAGES.items()),
        },
    )
