"""Create a believable demo world; running it again changes nothing."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Count

from accounts.models import Follow, User

DEMO_PASSWORD = "spaces-demo-pass"
HOSTS = [
    ("ada", "Ada Lovelace", "Counting engines and poetry."),
    ("grace", "Grace Hopper", "Compilers, nanoseconds and ships."),
]
LISTENERS = [("linus", "Linus"), ("margaret", "Margaret"), ("alan", "Alan"), ("barbara", "Barbara")]
FANS = 650


class Command(BaseCommand):
    help = "Create demo users: two hosts with 600+ followers, a few listeners (password: spaces-demo-pass)."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            hosts = [self._user(name, display, bio) for name, display, bio in HOSTS]
            listeners = [self._user(name, display, "Here to listen.") for name, display in LISTENERS]
            existing = set(User.objects.filter(username__startswith="fan").values_list("username", flat=True))
            new_fans = [
                User(username=f"fan{i:04d}", display_name=f"Fan {i}")
                for i in range(FANS)
                if f"fan{i:04d}" not in existing
            ]
            for fan in new_fans:
                fan.set_unusable_password()
            User.objects.bulk_create(new_fans)
            fans = list(User.objects.filter(username__startswith="fan"))
            edges = [Follow(follower=f, followee=h) for h in hosts for f in [*fans, *listeners]]
            edges += [Follow(follower=h, followee=o) for h in hosts for o in hosts if h != o]
            Follow.objects.bulk_create(edges, ignore_conflicts=True)
            self._recount()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo world ready: hosts {', '.join(h.username for h in hosts)} "
                f"({hosts[0].follower_count if hosts else 0}+ followers), listeners "
                f"{', '.join(u.username for u in listeners)}; password '{DEMO_PASSWORD}'."
            )
        )

    def _user(self, username: str, display: str, bio: str) -> User:
        user, created = User.objects.get_or_create(username=username, defaults={"display_name": display, "bio": bio})
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        return user

    def _recount(self) -> None:
        # bulk_create bypasses the services; bring the counts back in line with the edges.
        for row in User.objects.annotate(
            n_in=Count("follower_edges", distinct=True), n_out=Count("following_edges", distinct=True)
        ).values("pk", "n_in", "n_out"):
            User.objects.filter(pk=row["pk"]).update(follower_count=row["n_in"], following_count=row["n_out"])
