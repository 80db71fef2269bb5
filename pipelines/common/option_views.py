"""Beam's `PipelineOptions.view_as`, remembered per options object and view class.

Beam calls `options.view_as(SomeOptions)` a few times for every transform it applies, type-checks
and translates (about 1,300 calls for the text pipeline), and each call builds a fresh argparse
parser of that options class and parses the flags again: about 1.5 ms a call, and a few thousand
argparse objects of garbage. A view holds nothing of its own: it reads and writes the options
dictionary it shares with the object it was made from, and the flags it parses never change after
that object is built. So the first view of each class is kept (weakly: an options object that is
gone frees its views, pipelines/common/weak_memo.py) and handed out again, with the same values and
the same shared dictionary as a fresh one.
"""

from __future__ import annotations

from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.common.weak_memo import WeakMemo

_BEAMS_OWN = PipelineOptions.view_as
_VIEWS: WeakMemo[Any] = WeakMemo()


def remembered_view_as(self: PipelineOptions, cls: type) -> Any:
    """Beam's view_as(cls), built once per options object and class."""
    return _VIEWS.get(
        self,
        cls,
        lambda: _BEAMS_OWN(self, cls),
        still_valid=lambda view: view._all_options is self._all_options,
    )


def remember_option_views() -> None:
    """Install the remembering version on PipelineOptions (idempotent)."""
    PipelineOptions.view_as = remembered_view_as
