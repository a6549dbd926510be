"""Print the table of every stable error code (used to keep docs/api.md true): python scripts/error_codes.py"""

from __future__ import annotations

import importlib
import inspect
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings")

import django

django.setup()

from spaces_project.common.exceptions import ApplicationError  # noqa: E402

MODULES = [
    "spaces_project.common.exceptions",
    "accounts.exceptions",
    "rooms.exceptions",
    "rooms.snapshot",
    "tickets.exceptions",
    "moderation.exceptions",
]
DRF = [
    ("invalid_input", 400, "Validation failed; field errors under `extra.fields`."),
    ("parse_error", 400, "The body is not valid JSON (or nested deeper than 32 levels)."),
    ("invalid_character", 400, "A NUL or an unpaired surrogate in a body (`extra.path` says where) or a query string."),
    ("bad_request", 400, "The request could not be understood (e.g. a bad Host header)."),
    ("request_too_large", 413, "The body is larger than `extra.max_bytes`."),
    ("server_error", 500, "The server failed; nothing is promised about what changed. Please report it."),
    ("not_authenticated", 401, "No credentials were sent."),
    ("invalid_token", 401, "The token is unknown or revoked."),
    ("authentication_failed", 401, "The credentials were refused."),
    ("method_not_allowed", 405, "The HTTP method is not allowed here."),
    ("unsupported_media_type", 415, "Send JSON."),
    ("throttled", 429, "Too many requests; wait `extra.retry_after` seconds."),
]


def rows() -> list[tuple[str, int, str]]:
    found: dict[str, tuple[int, str]] = {code: (status, text) for code, status, text in DRF}
    for name in MODULES:
        module = importlib.import_module(name)
        for obj in vars(module).values():
            if inspect.isclass(obj) and issubclass(obj, ApplicationError) and obj.code != "application_error":
                found.setdefault(obj.code, (obj.status_code, obj.default_detail))
    return sorted((code, status, text) for code, (status, text) in found.items())


if __name__ == "__main__":
    print("| code | HTTP | meaning |\n|---|---|---|")
    for code, status, text in rows():
        print(f"| `{code}` | {status} | {text} |")
