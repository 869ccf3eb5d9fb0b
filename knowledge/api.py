"""JSON API of the knowledge base: search, for staff sessions and server-to-server keys."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from knowledge.search import MAX_QUERY_CHARS, knowledge_search
from sites.access import request_site
from webapp.http import json_error

MAX_K = 50


@require_GET
def knowledge_search_api(request: HttpRequest) -> JsonResponse:
    """GET /api/v1/knowledge/search?q=...&k=5[&site=slug] -> the ranked FAQs and passages."""
    site = request_site(request, request.GET.get("site", ""), "search the knowledge base")
    if isinstance(site, JsonResponse):
        return site
    query = request.GET.get("q", "").strip()
    if not query:
        return json_error(400, "invalid_query", "'q' is required.")
    if len(query) > MAX_QUERY_CHARS:
        return json_error(400, "invalid_query", f"'q' is limited to {MAX_QUERY_CHARS} characters.")
    raw_k = request.GET.get("k", "5")
    if not raw_k.isdigit() or not 1 <= int(raw_k) <= MAX_K:
        return json_error(400, "invalid_k", f"'k' must be a whole number from 1 to {MAX_K}.")
    result = knowledge_search(site=site, query=query, k=int(raw_k))
    return JsonResponse(result.as_json(), json_dumps_params={"ensure_ascii": False})
