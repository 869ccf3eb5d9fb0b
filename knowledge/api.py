"""JSON API of the knowledge base: search, for staff sessions and server-to-server keys."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from knowledge.search import MAX_QUERY_CHARS, knowledge_search
from sites.models import Site
from sites.selectors import site_get_by_secret_key, site_get_by_slug
from sites.services import site_default_ensure
from webapp.http import bearer_token, json_error

MAX_K = 50


def _request_site(request: HttpRequest) -> Site | JsonResponse:
    """The site this request may search: its key's site, or for staff the `site` named."""
    slug = request.GET.get("site", "").strip()
    if key := bearer_token(request):
        site = site_get_by_secret_key(key)
        if site is None:
            return json_error(401, "unauthorized", "The site key is not valid.")
        if slug and slug != site.slug:
            return json_error(403, "forbidden", "This key belongs to another site.")
        return site
    if not request.user.is_authenticated:
        return json_error(401, "unauthorized", "Send a staff session or a site key (Bearer).")
    if not request.user.is_staff:
        return json_error(403, "forbidden", "Only staff may search the knowledge base.")
    if not slug:
        return site_default_ensure()
    return site_get_by_slug(slug) or json_error(404, "unknown_site", "No such site.")


@require_GET
def knowledge_search_api(request: HttpRequest) -> JsonResponse:
    """GET /api/v1/knowledge/search?q=...&k=5[&site=slug] -> the ranked FAQs and passages."""
    site = _request_site(request)
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
