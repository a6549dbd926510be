"""Audio across the cluster: two livekit-server nodes sharing Redis, two web processes, Celery workers.

Participants are the Python realtime client (``tests/support/livekit.Peer``) publishing a tone;
every change goes through the REST API of the cluster, as a client's would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery

from rooms import livekit_client
from rooms.models import Participant, Role, Space
from tests.factories import HostFactory, UserFactory
from tests.support.cluster import ROOT, Cluster, call
from tests.support.livekit import Peer, wait_until

pytestmark = [pytest.mark.livekit, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def peers() -> Iterator[list[Peer]]:
    made: list[Peer] = []
    yield made
    for peer in made:
        peer.close()


def remote(room: str, user_id: int) -> livekit_client.RemoteParticipant | None:
    identity = livekit_client.identity_for(user_id)
    return next((p for p in livekit_client.participants_list(room=room) if p.identity == identity), None)


def can_publish(room: str, user_id: int) -> bool | None:
    info = remote(room, user_id)
    return None if info is None else info.can_publish


def unpublished(room: str, user_id: int) -> bool:
    info = remote(room, user_id)
    return info is not None and not info.can_publish and info.tracks == ()


def test_speaker_on_node1_and_listener_on_node2_hear_each_other_and_roles_apply_from_either_web(
    cluster_livekit: Cluster, peers: list[Peer]
) -> None:
    cluster = cluster_livekit
    host, listener = HostFactory(), UserFactory()
    web1, web2 = cluster.web_url(1), cluster.web_url(2)
    space_id = call("POST", f"{web1}/api/v1/spaces", host, {"title": "Two nodes"})["id"]
    host_creds = call("POST", f"{web1}/api/v1/spaces/{space_id}/join", host)
    listener_creds = call("POST", f"{web2}/api/v1/spaces/{space_id}/join", listener)
    assert host_creds["livekit_url"] == listener_creds["livekit_url"] == cluster.livekit_url  # HAProxy
    room = host_creds["room"]

    host_peer = Peer(cluster.node_url(1), host_creds["token"], "host")
    peers.append(host_peer)
    host_peer.connect()
    assert host_peer.publish_tone()
    listener_peer = Peer(cluster.node_url(2), listener_creds["token"], "listener")
    peers.append(listener_peer)
    listener_peer.connect()
    assert listener_peer.heard_from(host_creds["identity"])

    # Hand raised through web 1, approved through web 2: the listener may publish, the host hears it.
    call("POST", f"{web1}/api/v1/spaces/{space_id}/hand", listener)
    call("POST", f"{web2}/api/v1/spaces/{space_id}/hands/{listener.username}/approve", host)
    assert wait_until(lambda: can_publish(room, listener.pk) is True, timeout=15)
    assert listener_peer.publish_tone()
    assert host_peer.heard_from(listener_creds["identity"])

    # Moved back through web 1: the node holding the listener unpublishes it at once.
    call("POST", f"{web1}/api/v1/spaces/{space_id}/participants/{listener.username}/move-to-listeners", host)
    assert wait_until(lambda: unpublished(room, listener.pk), timeout=15)


def _worker_env(cluster: Cluster, livekit_api_url: str) -> dict[str, str]:
    env = dict(cluster.env)
    env.update(
        DATABASE_URL=cluster.env["SPACES_CLUSTER_DATABASE_URL"],
        REDIS_URL=cluster.redis_url,
        CELERY_BROKER_URL=cluster.redis_url,
        CELERY_TASK_ALWAYS_EAGER="false",
        LIVEKIT_URL=cluster.livekit_url,
        LIVEKIT_API_URL=livekit_api_url,
        LIVEKIT_API_KEY="clusterkey",
        LIVEKIT_API_SECRET="spaces-cluster-livekit-secret-0123456789abcdef",
        DJANGO_SETTINGS_MODULE="spaces_project.settings",
    )
    return env


def _task_lines(text: str, task_id: str, word: str) -> int:
    return sum(1 for line in text.splitlines() if task_id in line and word in line)


def test_worker_killed_mid_role_change_the_change_applies_once_on_another_worker(
    cluster_livekit: Cluster, peers: list[Peer], tmp_path: Path
) -> None:
    cluster = cluster_livekit
    host, listener = HostFactory(), UserFactory()
    space_id = call("POST", f"{cluster.url}/api/v1/spaces", host, {"title": "Workers"})["id"]
    host_creds = call("POST", f"{cluster.url}/api/v1/spaces/{space_id}/join", host)
    listener_creds = call("POST", f"{cluster.url}/api/v1/spaces/{space_id}/join", listener)
    room = host_creds["room"]
    for creds, name in ((host_creds, "host"), (listener_creds, "listener")):
        peer = Peer(creds["livekit_url"], creds["token"], name)
        peers.append(peer)
        peer.connect()
    host_peer, listener_peer = peers
    assert host_peer.publish_tone()

    # The only worker left is one whose LiveKit calls hang (a socket that never answers) ...
    cluster.run("stop", "worker1")
    cluster.run("stop", "worker2")
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(8)
    hang.settimeout(30)
    log = tmp_path / "doomed-worker.log"
    command = [str(Path(sys.executable).parent / "celery"), "-A", "spaces_project", "worker", "-P", "solo"]
    doomed = subprocess.Popen(
        [*command, "-n", "doomed@%h", "-l", "INFO", "--without-gossip", "--without-mingle"],
        cwd=ROOT,
        env=_worker_env(cluster, f"http://127.0.0.1:{hang.getsockname()[1]}"),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        assert wait_until(lambda: "ready." in log.read_text(), timeout=30)
        # ... so the promotion's LiveKit task is in the middle of its UpdateParticipant when it dies.
        call("POST", f"{cluster.url}/api/v1/spaces/{space_id}/hand", listener)
        call("POST", f"{cluster.url}/api/v1/spaces/{space_id}/hands/{listener.username}/approve", host)
        conn, _ = hang.accept()
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait(10)
        conn.close()
    finally:
        hang.close()
        if doomed.poll() is None:
            os.killpg(doomed.pid, signal.SIGKILL)
            doomed.wait(10)
    received = [line for line in log.read_text().splitlines() if "livekit_participant_apply[" in line]
    task_id = received[0].split("livekit_participant_apply[", 1)[1].split("]", 1)[0]
    assert _task_lines(log.read_text(), task_id, "succeeded") == 0
    assert can_publish(room, listener.pk) is False
    assert Participant.objects.get(space_id=space_id, user=listener).livekit_dirty

    # Another worker picks the unacknowledged task up (acks_late) once its visibility timeout has
    # passed: a starting worker sweeps for such tasks at once, a running one only every ~100 s (kombu).
    time.sleep(float(cluster.env["CELERY_VISIBILITY_TIMEOUT_S"]) + 1)
    cluster.run("start", "worker1")
    cluster.run("start", "worker2")
    assert wait_until(lambda: can_publish(room, listener.pk) is True, timeout=40)
    assert wait_until(lambda: not Participant.objects.get(space_id=space_id, user=listener).livekit_dirty)
    assert listener_peer.publish_tone()
    assert host_peer.heard_from(listener_creds["identity"])
    time.sleep(2)  # any duplicate delivery would have run by now
    logs = cluster.log("worker1") + cluster.log("worker2")
    assert _task_lines(logs, task_id, "succeeded") == 1


def _nodes(client: redis.Redis) -> set[str]:
    return {key.decode() for key in client.hkeys("nodes")}


def _room_node(client: redis.Redis, room: str) -> str | None:
    value = client.hget("room_node_map", room)
    return value.decode() if value else None


def test_stopped_livekit_node_new_joins_succeed_on_the_other_and_reconcile_repairs_rejoiners(
    cluster_livekit: Cluster, peers: list[Peer]
) -> None:
    cluster = cluster_livekit
    lk_redis = redis.Redis.from_url(cluster.livekit_redis_url)
    host, speaker, newcomer = HostFactory(), UserFactory(), UserFactory()
    try:
        # Put the room on node 1 for certain: open it while node 2 is down, then bring node 2 back.
        cluster.run("stop", "lk2")
        assert wait_until(lambda: len(_nodes(lk_redis)) == 1, timeout=15)
        (node1,) = _nodes(lk_redis)
        space_id = call("POST", f"{cluster.url}/api/v1/spaces", host, {"title": "Failover"})["id"]
        space = Space.objects.get(pk=space_id)
        Participant.objects.create(space=space, user=speaker, role=Role.SPEAKER)
        host_creds = call("POST", f"{cluster.url}/api/v1/spaces/{space_id}/join", host)
        speaker_creds = call("POST", f"{cluster.url}/api/v1/spaces/{space_id}/join", speaker)
        room = host_creds["room"]
        for creds, name in ((host_creds, "host"), (speaker_creds, "speaker")):
            peer = Peer(creds["livekit_url"], creds["token"], name)
            peers.append(peer)
            peer.connect()
            assert peer.publish_tone()
        assert _room_node(lk_redis, room) == node1
        cluster.run("start", "lk2")
        cluster.wait_healthy()
        assert wait_until(lambda: len(_nodes(lk_redis)) == 2, timeout=15)

        cluster.run("stop", "lk1")  # the node holding the room and everyone in it
        # The host moves the speaker to the listeners while the speaker's node is gone.
        call("POST", f"{cluster.url}/api/v1/spaces/{space_id}/participants/{speaker.username}/move-to-listeners", host)
        assert wait_until(
            lambda: not Participant.objects.get(space=space, user=speaker).livekit_dirty, timeout=60, interval=0.5
        )

        # New joins succeed, on node 2. Right after the failover LiveKit may accept a session in the room
        # still mapped to the stopped node and never accept its track; a client then joins again, as
        # the web client does (at most three sessions here).
        for _attempt in range(3):
            host_again = call("POST", f"{cluster.url}/api/v1/spaces/{space_id}/join", host)
            host_peer = Peer(host_again["livekit_url"], host_again["token"], "host-again")
            peers.append(host_peer)
            host_peer.connect()
            if host_peer.publish_tone():
                break
            host_peer.close()
        else:
            raise AssertionError("the host could not publish on the remaining node")
        newcomer_creds = call("POST", f"{cluster.url}/api/v1/spaces/{space_id}/join", newcomer)
        newcomer_peer = Peer(newcomer_creds["livekit_url"], newcomer_creds["token"], "newcomer")
        peers.append(newcomer_peer)
        newcomer_peer.connect()
        assert newcomer_peer.heard_from(host_again["identity"])
        assert _room_node(lk_redis, room) != node1

        # The speaker's client rejoins with the token it already held (a stage token): drift ...
        rejoined = Peer(cluster.livekit_url, speaker_creds["token"], "speaker-rejoined")
        peers.append(rejoined)
        rejoined.connect()
        assert rejoined.publish_tone()
        assert can_publish(room, speaker.pk) is True
        # ... which the reconcile task, run by a cluster worker, repairs.
        queue = cluster.env.get("CELERY_TASK_DEFAULT_QUEUE", "celery")
        # set_as_current=False: a new app must not become the current app of the whole test process
        # (shared_task would then send every later task to this broker instead of running it eagerly).
        Celery(broker=cluster.redis_url, set_as_current=False).send_task("rooms.tasks.livekit_reconcile", queue=queue)
        assert wait_until(lambda: can_publish(room, speaker.pk) is False, timeout=30)
        info = remote(room, speaker.pk)
        assert info is not None and info.tracks == () and info.hidden
    finally:
        lk_redis.close()
        cluster.run("start", "lk1")
        cluster.run("start", "lk2")
        cluster.wait_healthy()
