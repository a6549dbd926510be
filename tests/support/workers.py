"""A real Celery worker subprocess on the Redis broker, on a private queue, against the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import redis
from django.conf import settings
from django.db import connection

from spaces_project.celery import app

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def celery_worker(
    *, postgres_url: str, log_dir: Path, name: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a worker on a fresh queue; this process sends its tasks there (not eagerly) until exit."""
    queue = f"{name}-{uuid.uuid4().hex[:10]}"
    worker_env = dict(os.environ)
    worker_env.update(
        DATABASE_URL=urlunparse(urlparse(postgres_url)._replace(path="/" + connection.settings_dict["NAME"])),
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        CELERY_TASK_ALWAYS_EAGER="false",
        CELERY_TASK_DEFAULT_QUEUE=queue,
        **(env or {}),
    )
    log = (log_dir / "worker.log").open("ab")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "celery"), "-A", "spaces_project", "worker", "-P", "solo", "-Q", queue,
         "-n", f"{queue}@%h", "--without-heartbeat", "--without-mingle", "--without-gossip", "-l", "INFO"],
        cwd=ROOT, env=worker_env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    default_queue = app.conf.task_default_queue
    app.conf.task_always_eager = False
    app.conf.task_default_queue = queue
    try:
        yield proc
    finally:
        app.conf.task_always_eager = True
        app.conf.task_default_queue = default_queue
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        client.delete(queue)
        client.close()
