"""A real Celery worker (Redis broker, private queue) carries role changes to a real livekit-server,
and retries them through an outage until LiveKit answers again."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rooms import livekit_client
from rooms.models import Participant
from tests.factories import UserFactory
from tests.support.livekit import KEY, NOBODY, SECRET, remote, wait_until
from tests.support.workers import celery_worker

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.livekit, pytest.mark.redis, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(lk, postgres_url, redis_url, settings, tmp_path) -> Iterator[subprocess.Popen[bytes]]:
    with celery_worker(
        postgres_url=postgres_url,
        log_dir=tmp_path,
        name="rooms-test",
        env={
            "LIVEKIT_URL": lk.ws_url,
            "LIVEKIT_API_URL": lk.http_url,
            "LIVEKIT_API_KEY": KEY,
            "LIVEKIT_API_SECRET": SECRET,
            "LIVEKIT_API_TIMEOUT_S": "1",
            "LIVEKIT_ROOM_PREFIX": settings.LIVEKIT_ROOM_PREFIX,
        },
    ) as proc:
        yield proc


def test_worker_applies_an_approval_after_an_outage(world, lk, worker):
    listener = UserFactory()
    peer, api, _ = world.enter(listener)
    assert api.post(f"/api/v1/spaces/{world.space_id}/hand").status_code == 201
    lk.freeze()
    try:
        approved = world.host_api.post(f"/api/v1/spaces/{world.space_id}/hands/{listener.username}/approve")
        assert approved.status_code == 200, approved.json()  # the API does not wait for LiveKit
        row = Participant.objects.get(space_id=world.space_id, user=listener)
        assert (row.role, row.livekit_dirty) == ("speaker", True)
        # the worker's first attempt times out against the frozen server and is retried with backoff
        assert wait_until(lambda: worker.poll() is None, timeout=3)
    finally:
        lk.thaw()
    assert wait_until(lambda: (remote(world.room, listener) or NOBODY).can_publish, timeout=30)
    assert wait_until(lambda: not Participant.objects.get(pk=row.pk).livekit_dirty, timeout=30)
    assert peer.publish_tone()
    assert world.host_peer.heard_from(livekit_client.identity_for(listener.pk), frames=20)
