from collections.abc import Callable

from django.contrib.contenttypes.models import ContentType
from django.http import HttpRequest, HttpResponse


class ContentTypeCacheReset:
    """The test server outlives the flushes between tests, which give content types new
    ids; without this it would log admin changes against ids that no longer exist."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        ContentType.objects.clear_cache()
        return self.get_response(request)
