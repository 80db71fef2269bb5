"""Suite-wide settings: nothing may reach the network for model weights; `real_pages` tests skip
visibly (with the reason) where the real web pages are absent."""

from __future__ import annotations

import os

import pytest

from tests import real_pages

# A mistaken hub download must fail at once instead of retrying for a minute.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A tiny open_clip model trained here on coloured shapes (see tests/clip_fixtures.py)."""
    from tests.clip_fixtures import train_tiny_clip

    return train_tiny_clip(tmp_path_factory.mktemp("clip"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without the real pages, only the tests marked `real_pages` are skipped, each with the reason."""
    if real_pages.available():
        return
    skip = pytest.mark.skip(reason=f"real_pages: {real_pages.SKIP_REASON}")
    for item in items:
        if item.get_closest_marker("real_pages") is not None:
            item.add_marker(skip)
