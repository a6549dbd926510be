"""Recordings on an S3-compatible store (django-storages) against a real SeaweedFS S3 API started by
bin/services: parts and the replay are written there, the replay is served in byte ranges from it,
and deleting the recording deletes its objects."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from tests.factories import UserFactory
from tests.support.services import require

pytestmark = pytest.mark.django_db


@pytest.fixture
def s3_bucket(settings, tmp_path):
    import boto3

    endpoint = require("SeaweedFS S3", os.environ.get("SPACES_S3_ENDPOINT_URL", ""), 8333)
    client = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="spaces", aws_secret_access_key="spaces-secret",
        region_name="us-east-1",
    )  # fmt: skip
    bucket = f"rec-{uuid.uuid4().hex[:10]}"
    deadline = time.monotonic() + 30
    while True:  # a fresh SeaweedFS answers before its filer is ready
        try:
            client.create_bucket(Bucket=bucket)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    settings.STORAGES = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket, "endpoint_url": endpoint, "access_key": "spaces",
                "secret_key": "spaces-secret", "region_name": "us-east-1", "addressing_style": "path",
                "file_overwrite": False, "default_acl": None,
            },
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }  # fmt: skip
    yield client, bucket
    # SeaweedFS gives each bucket its own volumes; a bucket left behind keeps them, and a few runs later
    # the volume server has none left to give (PutObject: InternalError)
    for key in _keys(client, bucket):
        client.delete_object(Bucket=bucket, Key=key)
    client.delete_bucket(Bucket=bucket)


def _keys(client, bucket) -> set[str]:
    return {o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])}


def test_recording_lives_in_s3(s3_bucket, live_space, host, make_client):
    from django.core.files.storage import default_storage

    from rooms import audio
    from tests.rooms.test_replays import _capture_on_commit, make_ready

    client, bucket = s3_bucket
    default_storage.exists("x")  # resolve the lazy storage
    assert type(default_storage._wrapped).__name__ == "S3Storage"
    recording = make_ready(live_space, host)
    keys = _keys(client, bucket)
    assert recording.file in keys and sum(k.startswith(f"recordings/{live_space.pk}/") for k in keys) == 4
    body = client.get_object(Bucket=bucket, Key=recording.file)["Body"].read()
    assert audio.decode(body).size == 3000 * 48
    api = make_client(UserFactory())
    ranged = api.get(f"/api/v1/spaces/{live_space.pk}/recording/audio", HTTP_RANGE="bytes=10-99")
    assert ranged.status_code == 206 and b"".join(ranged.streaming_content) == body[10:100]
    with _capture_on_commit():
        assert make_client(host).delete(f"/api/v1/spaces/{live_space.pk}/recording").status_code == 204
    assert _keys(client, bucket) == set()
