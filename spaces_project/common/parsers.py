"""Request body parsers: strict JSON, and no string that PostgreSQL or UTF-8 cannot hold.

DRF's own parsers let through what later fails as a 500:

- ``[[[[…`` 100,000 deep makes ``json`` raise ``RecursionError`` (not a ``ValueError``);
- ``"\\u0000"`` parses to a NUL character, which PostgreSQL refuses in text and JSON columns;
- ``"\\ud800"`` parses to a lone surrogate, which cannot be encoded as UTF-8 (nor stored, nor echoed);
- ``1e999`` parses to ``inf`` (DRF refuses only the ``Infinity``/``NaN`` literals).

So bodies are parsed strictly, nested at most ``MAX_DEPTH`` deep, and every key and string value is
checked: a NUL or a lone surrogate anywhere answers 400 ``invalid_character`` naming where it is
(``extra.path``); the other failures answer 400 ``parse_error``. Form bodies get the same string check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import QueryDict
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from spaces_project.common.text import BAD_CHARACTER, loads_strict

MAX_DEPTH = 32  # no endpoint takes more than two levels; anything deeper is an attack or a bug


class InvalidCharacter(ParseError):
    default_code = "invalid_character"
    default_detail = "Text must not contain NUL characters or unpaired UTF-16 surrogates."

    def __init__(self, path: list[str | int]) -> None:
        super().__init__(code="invalid_character")
        self.extra = {"path": path}


def _printable(key: str | int) -> str | int:
    """A path element safe to echo back in a JSON answer (the bad character spelled out)."""
    if isinstance(key, int):
        return key
    return BAD_CHARACTER.sub(lambda m: f"\\u{ord(m.group()):04x}", key)


def check_strings(value: Any) -> None:
    """Raise ``InvalidCharacter`` or ``ParseError`` (too deep) for a parsed body; iterative, any size."""
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        if len(path) > MAX_DEPTH:
            raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels.")
        if isinstance(item, str):
            if BAD_CHARACTER.search(item):
                raise InvalidCharacter([_printable(p) for p in path])
        elif isinstance(item, Mapping):
            for key, child in item.items():
                if isinstance(key, str) and BAD_CHARACTER.search(key):
                    raise InvalidCharacter([_printable(p) for p in (*path, key)])
                stack.append((child, [*path, key]))
        elif isinstance(item, list):
            stack.extend((child, [*path, index]) for index, child in enumerate(item))


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        encoding = (parser_context or {}).get("encoding", "utf-8")
        try:
            text = stream.read().decode(encoding) if stream is not None else ""
            data = loads_strict(text)
        except (ValueError, LookupError) as exc:  # UnicodeDecodeError is a ValueError
            raise ParseError(f"JSON parse error - {str(exc)[:200]}") from None
        check_strings(data)
        return data


def _check_form(data: QueryDict) -> None:
    for key, values in data.lists():
        for value in [key, *values]:
            if isinstance(value, str) and BAD_CHARACTER.search(value):
                raise InvalidCharacter([_printable(key)])


class FormParser(parsers.FormParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        _check_form(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        result = super().parse(stream, media_type, parser_context)
        _check_form(result.data)
        return result
