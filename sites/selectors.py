from sites.models import Site, secret_key_hash


def site_get_by_secret_key(key: str) -> Site | None:
    return Site.objects.filter(secret_key_hash=secret_key_hash(key)).first() if key else None


def site_get_by_slug(slug: str) -> Site | None:
    return Site.objects.filter(slug=slug).first()
