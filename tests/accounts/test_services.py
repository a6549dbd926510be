"""Follow-graph services, including exact counts under real concurrency on PostgreSQL."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from accounts.models import Follow, User
from accounts.services import follow_create, follow_delete
from tests.factories import UserFactory


@pytest.mark.django_db
def test_unfollow_never_goes_negative():
    a, b = UserFactory(), UserFactory()
    assert follow_delete(follower=a, followee=b) is False
    b.refresh_from_db()
    assert b.follower_count == 0


@pytest.mark.django_db(transaction=True)
def test_counts_stay_exact_under_concurrent_follow_and_unfollow(postgres_url):
    star = UserFactory(username="star")
    fans = UserFactory.create_batch(24)
    rng = random.Random(7)
    plans = [[rng.choice([follow_create, follow_delete]) for _ in range(12)] for _ in fans]

    def run(index: int) -> None:
        fan = User.objects.get(pk=fans[index].pk)
        target = User.objects.get(pk=star.pk)
        try:
            for action in plans[index]:
                action(follower=fan, followee=target)
                # the star follows back and unfollows too, to cross the lock order
                action(follower=target, followee=fan)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(run, range(len(fans))))

    for user in User.objects.all():
        assert user.follower_count == Follow.objects.filter(followee=user).count()
        assert user.following_count == Follow.objects.filter(follower=user).count()
    assert star.pk and User.objects.get(pk=star.pk).follower_count >= 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_follows_make_one_edge(postgres_url):
    star, fan = UserFactory(), UserFactory()

    def run(_: int) -> bool:
        try:
            return follow_create(follower=User.objects.get(pk=fan.pk), followee=User.objects.get(pk=star.pk))
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, range(16)))
    assert results.count(True) == 1
    star.refresh_from_db()
    assert star.follower_count == 1
    assert Follow.objects.count() == 1
