from sites.models import Site


def site_get_by_secret_key(key: str) -> Site | None:
    return Site.objects.filter(secret_key=key).first() if key else None


def site_get_by_slug(slug: str) -> Site | None:
    return Site.objects.filter(slug=slug).first()
