"""The results schema names what the evaluate stage and the digan analyses write, once."""
from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from digan.analysis.media import KINDS
from digan.metrics.protocol import distance_runs, inception_score_runs
from pipeline import params
from pipeline.results import (ANALYSES, ANALYSIS_FILES, CLIP_MEDIA, LONG_VIDEO_MEDIA, MEDIA_KINDS, PREDICTION_MEDIA,
                              RESULTS, MetricResult, Quality)


def test_every_analysis_file_has_a_schema_and_params_accept_exactly_the_analyses():
    assert {stem for stems in ANALYSIS_FILES.values() for stem in stems} == set(RESULTS)
    assert params.ANALYSES is ANALYSES


def test_media_kinds_are_what_the_stage_asks_digan_for():
    assert set(LONG_VIDEO_MEDIA) | set(CLIP_MEDIA) | {PREDICTION_MEDIA} == set(MEDIA_KINDS)
    assert set(LONG_VIDEO_MEDIA) | set(CLIP_MEDIA) <= set(KINDS)


def test_metric_results_of_the_protocol_are_valid_and_keys_must_name_their_backbone():
    rng = np.random.default_rng(0)
    results = distance_runs(rng.normal(size=(20, 4)), rng.normal(size=(20, 4)), backbone="probe", runs=2, samples=8)
    probs = rng.dirichlet(np.ones(5), size=10)
    results.append(inception_score_runs(probs, backbone="probe", runs=2, samples=8))
    for result in results:
        assert MetricResult.model_validate(result.to_dict()).key == result.key
    wrong = {**results[0].to_dict(), "key": "fvd_i3d"}
    with pytest.raises(ValidationError, match="fvd_i3d"):
        MetricResult.model_validate(wrong)
    with pytest.raises(ValidationError, match="kvd_probe holds fvd_probe"):
        Quality.model_validate({"metrics": {"kvd_probe": results[0].to_dict()}})
