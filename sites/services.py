from sites.models import Site

DEFAULT_SITE_SLUG = "default"


def site_default_ensure() -> Site:
    """The site that conversations join when none is named; created on first use."""
    site, _ = Site.objects.get_or_create(slug=DEFAULT_SITE_SLUG, defaults={"name": "Default site"})
    return site


def origin_clean(value: str) -> str:
    """An origin as browsers send it (scheme://host[:port], no path), or ValueError."""
    from urllib.parse import urlsplit

    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise ValueError(f"{value!r} is not an origin such as https://shop.example.com")
    return f"{parts.scheme}://{parts.netloc}".lower()


def site_provision(*, name: str, origins: list[str]) -> tuple[Site, str]:
    """Ensure a site named `name` (its slug is the name slugified) allowing `origins`, and
    issue it a new secret key, returned with it: the old one stops working, so a script
    always gets a working one. The public key and the identity secret stay; a new site
    allows anonymous visitors."""
    from django.utils.text import slugify

    slug = slugify(name)
    if not slug:
        raise ValueError(f"{name!r} gives no slug")
    cleaned = [origin_clean(o) for o in origins]
    site, _ = Site.objects.get_or_create(slug=slug, defaults={"name": name})
    known = site.origin_list()
    site.allowed_origins = "\n".join(known + [o for o in cleaned if o not in known])
    site.save(update_fields=["allowed_origins"])
    return site, site.secret_key_issue()
