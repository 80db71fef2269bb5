"""Beam's `PipelineOptions.view_as`, remembered per options object and view class.

Beam calls `options.view_as(SomeOptions)` a few times for every transform it applies, type-checks
and translates (about 1,300 calls for the text pipeline), and each call builds a fresh argparse
parser of that options class and parses the flags again: about 1.5 ms a call, and a few thousand
argparse objects of garbage. A view holds nothing of its own: it reads and writes the options
dictionary it shares with the object it was made from, and the flags it parses never change after
that object is built. So the first view of each class is kept (weakly: an options object that is
gone frees its views) and handed out again, with the same values and the same shared dictionary as
a fresh one.
"""

from __future__ import annotations

import weakref
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions

_BEAMS_OWN = PipelineOptions.view_as
_VIEWS: weakref.WeakKeyDictionary[Any, dict[type, Any]] = weakref.WeakKeyDictionary()


def remembered_view_as(self: PipelineOptions, cls: type) -> Any:
    """Beam's view_as(cls), built once per options object and class."""
    try:
        views = _VIEWS[self]
    except KeyError:
        views = _VIEWS[self] = {}
    except TypeError:  # not weakly referenceable: a fresh view, as Beam makes it
        return _BEAMS_OWN(self, cls)
    view = views.get(cls)
    if view is None or view._all_options is not self._all_options:
        view = views[cls] = _BEAMS_OWN(self, cls)
    return view


def remember_option_views() -> None:
    """Install the remembering version on PipelineOptions (idempotent)."""
    PipelineOptions.view_as = remembered_view_as
