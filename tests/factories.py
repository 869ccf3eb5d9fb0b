import factory
from django.contrib.auth.models import User

from chat.models import Conversation
from sites.models import Site


class SiteFactory(factory.django.DjangoModelFactory[Site]):
    class Meta:
        model = Site
        django_get_or_create = ("slug",)
        skip_postgeneration_save = True  # the key's issue saves its hash

    slug = factory.Sequence(lambda n: f"site-{n}")
    name = factory.Sequence(lambda n: f"Site {n}")

    @factory.post_generation
    def secret_key(site: Site, create: bool, extracted: object, **kwargs: object) -> None:  # type: ignore[misc]
        """The site's secret key, issued as an admin would: `site.secret_key` (only the
        instance knows it; the database keeps its hash)."""
        if create:
            site.secret_key_issue()


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("secret-pass-123")


class ConversationFactory(factory.django.DjangoModelFactory[Conversation]):
    class Meta:
        model = Conversation

    site = factory.SubFactory(SiteFactory)
