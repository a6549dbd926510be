"""factory_boy factories for every model the tests create."""

from __future__ import annotations

import factory
from django.conf import settings

from accounts.models import User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    display_name = factory.LazyAttribute(lambda o: o.username.title())
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def _save(obj: User, create: bool, extracted: object, **kwargs: object) -> None:  # noqa: N805
        if create:
            obj.save()


class HostFactory(UserFactory):
    """A user who may host: follower count at the threshold (no follow rows needed)."""

    follower_count = factory.LazyFunction(lambda: settings.SPACES_HOST_MIN_FOLLOWERS)
