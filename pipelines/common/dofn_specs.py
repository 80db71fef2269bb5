"""Beam's state/timer introspection of a DoFn, computed once per DoFn instead of on every call.

Beam asks `userstate.get_dofn_specs(dofn)` several times for every ParDo while it builds, translates
and runs a pipeline (about 2,000 calls for the text pipeline), and each call inspects the signature
of every method of the DoFn: about 1.3 CPU-seconds of a short local run. The answer depends only
on the DoFn's methods, which do not change once the DoFn is built, so it is remembered per DoFn
object (weakly: a DoFn that is gone frees its entry; one that cannot be weakly keyed is inspected
as before).
"""

from __future__ import annotations

import weakref
from typing import Any

from apache_beam.transforms import userstate

_BEAMS_OWN = userstate.get_dofn_specs
_SPECS: weakref.WeakKeyDictionary[Any, tuple[set, set]] = weakref.WeakKeyDictionary()


def remembered_dofn_specs(dofn: Any) -> tuple[set, set]:
    """Beam's get_dofn_specs(dofn), inspected once per DoFn object (copies of the sets returned)."""
    try:
        states, timers = _SPECS[dofn]
    except (KeyError, TypeError):
        states, timers = _BEAMS_OWN(dofn)
        try:
            _SPECS[dofn] = (states, timers)
        except TypeError:  # unhashable or not weakly referenceable: nothing remembered
            pass
    return set(states), set(timers)


def remember_dofn_specs() -> None:
    """Install the remembering version in Beam's userstate module (idempotent)."""
    userstate.get_dofn_specs = remembered_dofn_specs
