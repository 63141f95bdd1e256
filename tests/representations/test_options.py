"""profile() = activations() + profile_store(), configured by option objects."""

import numpy as np
import pytest
import torch

from idscope import InputError
from idscope.representations import CaptureOptions, EstimateOptions, profile


@pytest.fixture(scope="module")
def model_and_data():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    X = np.random.default_rng(1).normal(size=(120, 6)).astype(np.float32)
    return model, X


def test_option_objects_equal_keywords(model_and_data):
    model, X = model_and_data
    a = profile(model, X, layers=["0", "2"], n_resamples=3, batch_size=32, pca_threshold=None)
    b = profile(model, X, layers=["0", "2"], capture=CaptureOptions(batch_size=32),
                estimate=EstimateOptions(n_resamples=3, pca_threshold=None))
    assert a.to_frame().equals(b.to_frame())
    assert all(r.n_resamples == 3 for r in b.rows)


def test_keywords_override_the_objects_and_unknown_ones_fail(model_and_data):
    model, X = model_and_data
    p = profile(model, X, layers=["2"], estimate=EstimateOptions(n_resamples=3),
                n_resamples=0, pca_threshold=None)
    assert p.rows[0].n_resamples == 0
    with pytest.raises(InputError, match="unknown option"):
        profile(model, X, layers=["2"], n_resample=3)
    with pytest.raises(InputError, match="EstimateOptions"):
        profile(model, X, layers=["2"], estimate={"n_resamples": 3})
