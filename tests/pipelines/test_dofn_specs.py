"""Beam's DoFn state/timer introspection, remembered per DoFn, answers as Beam's own does."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.coders import VarIntCoder
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import userstate
from apache_beam.transforms.userstate import BagStateSpec, TimerSpec, on_timer

from pipelines.common import dofn_specs
from pipelines.common.dofn_specs import remember_dofn_specs, remembered_dofn_specs


class Plain(beam.DoFn):
    def process(self, x):
        yield x


BAG = BagStateSpec("bag", VarIntCoder())
TIMER = TimerSpec("t", userstate.TimeDomain.WATERMARK)
BAG_PARAM, TIMER_PARAM = beam.DoFn.StateParam(BAG), beam.DoFn.TimerParam(TIMER)


class Stateful(beam.DoFn):
    def process(self, kv, bag=BAG_PARAM, t=TIMER_PARAM):
        bag.add(kv[1])
        yield kv

    @on_timer(TIMER)
    def fire(self, bag=BAG_PARAM):
        yield sum(bag.read())


class Unhashable(Plain):
    __hash__ = None  # type: ignore[assignment]


def test_same_specs_as_beam_and_remembered_once() -> None:
    for fn in (Plain(), Stateful(), Unhashable()):
        assert remembered_dofn_specs(fn) == dofn_specs._BEAMS_OWN(fn)
        assert remembered_dofn_specs(fn) == dofn_specs._BEAMS_OWN(fn)  # from memory the second time
    stateful = Stateful()
    states, timers = remembered_dofn_specs(stateful)
    assert {s.name for s in states} == {"bag"} and len(timers) == 1
    states.clear()  # a caller changing its copy does not change what is remembered
    assert remembered_dofn_specs(stateful)[0] and stateful in dofn_specs._SPECS


def test_installed_pipeline_still_runs_a_stateful_dofn() -> None:
    remember_dofn_specs()
    assert userstate.get_dofn_specs is remembered_dofn_specs and userstate.is_stateful_dofn(Stateful())
    with beam.Pipeline() as p:
        out = p | beam.Create([("k", 1), ("k", 2)]) | beam.ParDo(Stateful())
        assert_that(out, equal_to([("k", 1), ("k", 2)]))
