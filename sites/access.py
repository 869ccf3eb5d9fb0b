"""Who may do what on a site: the one place that decides it for every app and entry point
(REST, sockets, widget): staff APIs, opening conversations, origins, visitor identity."""

import functools
import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from sites.models import Site
from sites.selectors import site_get_by_secret_key, site_get_by_slug
from sites.services import DEFAULT_SITE_SLUG, site_default_ensure
from webapp.http import bearer_token, json_error

log = logging.getLogger(__name__)


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


def origin_allowed(origin: str, host: str, site: Site | None = None) -> bool:
    """A browser's Origin: this host, a configured origin (ALLOWED_ORIGINS) or one of the
    site's allowed origins. No Origin is not a browser: its credential alone decides."""
    origin = origin.rstrip("/")
    if not origin:
        return True
    if urlsplit(origin).netloc == host:
        return True
    return origin in settings.ALLOWED_ORIGINS or (site is not None and origin in site.origin_list())


def identity_hash(site: Site, user_id: str) -> str:
    """The user_hash a site's backend computes for a visitor: HMAC-SHA256(identity_secret,
    user_id), hex."""
    return hmac.new(site.identity_secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


@dataclass
class Opener:
    """Who opens a conversation: on which site, for which verified visitor id ("" when
    anonymous), owned by which signed-in user (None unless a same-origin session)."""

    site: Site
    visitor_id: str = ""
    owner: Any = None
    trusted: bool = False  # a server's secret key or a staff session


def conversation_opener(request: HttpRequest, body: dict[str, Any]) -> Opener | JsonResponse:
    """The one check for opening a conversation, for every entry point:

    - the site's secret key (`Authorization: Bearer`), server to server;
    - the site's public key (`public_key` in the body, or `X-Site-Key`) from one of the
      site's allowed origins: the widget;
    - a staff session (with its CSRF token): any site, the default when none is named;
    - nothing: the default site only, while it allows anonymous visitors (the first-run
      chat page and quick trials).

    A visitor's identity (`user_id` and `user_hash`) must verify, or the request is refused
    (never taken as anonymous with that id); a site that allows no anonymous visitors
    needs one. A cookie sent by a cross-site page is not a session here: it owns nothing."""
    slug = str(body.get("site") or "").strip()
    origin = request.headers.get("Origin", "")
    host = request.get_host()
    public_key = str(body.get("public_key") or request.headers.get("X-Site-Key") or "").strip()
    trusted = False  # a server's key or a staff session: no visitor rules apply
    owner = None
    if bearer_token(request):
        site = request_site(request, slug, "open conversations on this site")
        if isinstance(site, JsonResponse):
            return site
        trusted = True
    elif public_key:
        found = Site.objects.filter(public_key=public_key).first()
        if found is None or (slug and slug != found.slug):
            return json_error(403, "forbidden", "The site's public key is not valid.")
        if not origin_allowed(origin, host, found):
            log.warning("refused a conversation for site %s from origin %r", found.slug, origin)
            return json_error(
                403, "origin_not_allowed", f"The origin {origin} may not embed this site."
            )
        site = found
    else:
        session = (
            request.user.is_authenticated
            and origin_allowed(origin, host)
            and session_csrf_ok(request)
        )
        if session:
            owner = request.user
        if session and request.user.is_staff:
            site_or_error = request_site(request, slug, "open conversations on this site")
            if isinstance(site_or_error, JsonResponse):
                return site_or_error
            site, trusted = site_or_error, True
        elif slug and slug != DEFAULT_SITE_SLUG:
            return json_error(
                401, "unauthorized",
                "Send the site's public key (widget), its secret key (server) or a staff session.",
            )  # fmt: skip
        else:
            site = site_default_ensure()
    visitor_id = str(body.get("user_id") or "").strip()[:200]
    if visitor_id:
        user_hash = str(body.get("user_hash") or "")
        if not hmac.compare_digest(identity_hash(site, visitor_id), user_hash.strip().lower()):
            return json_error(403, "identity_invalid", "The user_hash does not match the user_id.")
    elif not trusted and not site.allow_anonymous:
        return json_error(
            401, "identity_required", "This site needs a verified visitor (user_id and user_hash)."
        )
    return Opener(site=site, visitor_id=visitor_id, owner=owner, trusted=trusted)


def origin_of_some_site(origin: str) -> bool:
    """Whether any site allows `origin` (a CORS preflight names no site yet)."""
    origin = origin.rstrip("/")
    if not origin:
        return False
    if origin in settings.ALLOWED_ORIGINS:
        return True
    candidates = Site.objects.filter(allowed_origins__contains=origin)
    return any(origin in site.origin_list() for site in candidates)


def cross_origin(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """CORS for the APIs a widget calls from a site's own pages: a preflight from an origin
    some site allows is answered, and responses to such an origin may be read by it. The
    view still decides on the site's own origins (conversation_opener)."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        origin = request.headers.get("Origin", "").rstrip("/")
        allowed = bool(origin) and origin_of_some_site(origin)
        if request.method == "OPTIONS":
            response = HttpResponse(status=204 if allowed else 403)
        else:
            response = view(request, *args, **kwargs)
        if allowed:
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Allow-Headers"] = "Authorization, Content-Type, X-Site-Key"
            response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response["Access-Control-Max-Age"] = "600"
            response["Vary"] = "Origin"
        elif origin and request.method == "OPTIONS":
            log.warning("refused a CORS preflight from origin %r", origin)
        return response

    return wrapped
