"""Who may call a site's staff APIs: the one place that decides it for every app."""

from django.http import HttpRequest, JsonResponse

from sites.models import Site
from sites.selectors import site_get_by_secret_key, site_get_by_slug
from sites.services import site_default_ensure
from webapp.http import bearer_token, json_error


def request_site(
    request: HttpRequest, slug: str = "", action: str = "use this API"
) -> Site | JsonResponse:
    """The site this request acts for: its Bearer key's site, or for a staff session the
    site named by `slug` (the default site when blank). Otherwise the JSON error to answer
    with (401 without a credential, never a redirect to a login page; 403 for non-staff)."""
    slug = slug.strip()
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
        return json_error(403, "forbidden", f"Only staff may {action}.")
    if not slug:
        return site_default_ensure()
    return site_get_by_slug(slug) or json_error(404, "unknown_site", "No such site.")


def request_is_staff(request: HttpRequest) -> bool:
    """A staff session (no Bearer key): staff see every site's jobs."""
    return not bearer_token(request) and bool(
        request.user.is_authenticated and request.user.is_staff
    )


def session_csrf_ok(request: HttpRequest) -> bool:
    """A staff session must send Django's CSRF token; a Bearer key needs none (the views
    of the staff APIs are csrf_exempt and call this after the credential check)."""
    if bearer_token(request):
        return True
    from django.middleware.csrf import CsrfViewMiddleware

    def view(_: HttpRequest) -> None:
        return None

    reason = CsrfViewMiddleware(view).process_view(request, view, (), {})  # type: ignore[arg-type]
    return reason is None
