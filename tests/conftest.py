"""Suite-wide settings: nothing may reach the network for model weights."""

from __future__ import annotations

import os

import pytest

# A mistaken hub download must fail at once instead of retrying for a minute.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A tiny open_clip model trained here on coloured shapes (see tests/clip_fixtures.py)."""
    from tests.clip_fixtures import train_tiny_clip

    return train_tiny_clip(tmp_path_factory.mktemp("clip"))
