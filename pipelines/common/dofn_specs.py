"""Beam's state/timer introspection of a DoFn, computed once per DoFn instead of on every call.

Beam asks `userstate.get_dofn_specs(dofn)` several times for every ParDo while it builds, translates
and runs a pipeline (about 2,000 calls for the text pipeline), and each call inspects the signature
of every method of the DoFn: about 1.3 CPU-seconds of a short local run. The answer depends only on
the DoFn's methods, which do not change once the DoFn is built, so it is remembered per DoFn object
(pipelines/common/weak_memo.py: a DoFn that is gone frees its entry; one that cannot be weakly keyed
is inspected as before).
"""

from __future__ import annotations

from typing import Any

from apache_beam.transforms import userstate

from pipelines.common.weak_memo import WeakMemo

_BEAMS_OWN = userstate.get_dofn_specs
_SPECS: WeakMemo[tuple[set, set]] = WeakMemo()


def remembered_dofn_specs(dofn: Any) -> tuple[set, set]:
    """Beam's get_dofn_specs(dofn), inspected once per DoFn object (copies of the sets returned)."""
    states, timers = _SPECS.get(dofn, None, lambda: _BEAMS_OWN(dofn))
    return set(states), set(timers)


def remember_dofn_specs() -> None:
    """Install the remembering version in Beam's userstate module (idempotent)."""
    userstate.get_dofn_specs = remembered_dofn_specs
