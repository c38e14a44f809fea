"""Fixtures of the API tests: a shared server per module, and servers of one's own."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support.apiserver import LiveApi, live_api


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """The shared server of a test module (flow detail on, /metrics needs a token)."""
    with live_api(tmp_path_factory.mktemp("api"), api={"metrics_auth": "required"}) as a:
        yield a


@pytest.fixture
def fresh_api(tmp_path: Path) -> Callable[..., contextlib.AbstractContextManager[LiveApi]]:
    """A factory for a server of one's own (settings overrides as keyword arguments)."""
    counter = iter(range(1000))

    def make(**overrides: Any) -> contextlib.AbstractContextManager[LiveApi]:
        return live_api(tmp_path / f"api{next(counter)}", **overrides)

    return make
