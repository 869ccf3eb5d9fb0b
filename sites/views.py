"""The widget: its script, and the public look and words of a site (by its public key)."""

from pathlib import Path

from django.http import FileResponse, HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_http_methods

from sites.access import cross_origin
from sites.models import Site
from webapp.http import json_error

WIDGET = Path(__file__).resolve().parent / "static" / "sites" / "widget.js"


@require_GET
def widget_script(request: HttpRequest) -> FileResponse:
    """/widget.js, for `<script src="https://HOST/widget.js" data-site="PUBLIC_KEY" async>`."""
    response = FileResponse(WIDGET.open("rb"), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    return response


@cross_origin
@require_http_methods(["GET", "OPTIONS"])
def widget_config_api(request: HttpRequest, public_key: str) -> JsonResponse:
    """GET /api/v1/widget/<public_key> -> the site's name, greeting, colour, logo, language,
    position and whether anonymous visitors may chat (nothing secret)."""
    site = Site.objects.filter(public_key=public_key).first()
    if site is None:
        return json_error(404, "unknown_site", "No site has this public key.")
    return JsonResponse(
        {
            "name": site.name,
            "greeting": site.greeting,
            "color": site.color,
            "logo_url": site.logo_url,
            "language": site.language,
            "position": site.position,
            "allow_anonymous": site.allow_anonymous,
        }
    )
