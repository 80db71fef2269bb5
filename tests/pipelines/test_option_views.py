"""Beam's options views, remembered per options object, read and write what fresh views do."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import (
    DirectOptions,
    PipelineOptions,
    StandardOptions,
    TypeOptions,
)
from apache_beam.testing.util import assert_that, equal_to

from pipelines.common import option_views
from pipelines.common.option_views import remember_option_views, remembered_view_as

FLAGS = ["--runner=DirectRunner", "--direct_num_workers=1", "--no_pipeline_type_check"]


def test_remembered_views_hold_what_fresh_views_hold() -> None:
    options = PipelineOptions(FLAGS)
    for cls in (StandardOptions, DirectOptions, TypeOptions):
        fresh = option_views._BEAMS_OWN(options, cls)
        kept = remembered_view_as(options, cls)
        assert kept.get_all_options() == fresh.get_all_options()
        assert remembered_view_as(options, cls) is kept  # built once
    assert remembered_view_as(options, DirectOptions).direct_num_workers == 1
    assert remembered_view_as(options, TypeOptions).pipeline_type_check is False


def test_a_value_set_through_one_view_is_seen_by_every_view() -> None:
    options = PipelineOptions(FLAGS)
    remembered_view_as(options, StandardOptions).streaming = True
    assert option_views._BEAMS_OWN(options, StandardOptions).streaming is True
    remembered_view_as(options, DirectOptions).direct_num_workers = 3
    assert remembered_view_as(options, DirectOptions).direct_num_workers == 3
    other = PipelineOptions(FLAGS)  # another options object has its own views
    assert remembered_view_as(other, DirectOptions).direct_num_workers == 1


def test_installed_a_pipeline_still_runs() -> None:
    remember_option_views()
    try:
        with beam.Pipeline(options=PipelineOptions(FLAGS)) as p:
            assert_that(p | beam.Create([1, 2, 3]) | beam.Map(lambda x: x * 2), equal_to([2, 4, 6]))
    finally:
        PipelineOptions.view_as = option_views._BEAMS_OWN
