from sites.models import Site

DEFAULT_SITE_SLUG = "default"


def site_default_ensure() -> Site:
    """The site that conversations join when none is named; created on first use."""
    site, _ = Site.objects.get_or_create(slug=DEFAULT_SITE_SLUG, defaults={"name": "Default site"})
    return site
