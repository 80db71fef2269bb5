"""Suite-wide settings: nothing may reach the network for model weights."""

from __future__ import annotations

import os

# A mistaken hub download must fail at once instead of retrying for a minute.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
