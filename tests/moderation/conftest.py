"""Fixtures for the trust & safety tests: a live Space with a full cast of roles."""

from __future__ import annotations

import pytest

from tests.support.builders import Cast, make_cast


@pytest.fixture
def cast() -> Cast:
    """A live Space: host, two co-hosts, two speakers, two listeners (one with a raised hand), a user banned
    from it, a suspended user, a staff member and an outsider (neither of the last two in the Space)."""
    return make_cast()
