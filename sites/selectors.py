from sites.models import Site


def site_get_by_slug(slug: str) -> Site | None:
    return Site.objects.filter(slug=slug).first()
