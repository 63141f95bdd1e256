"""Issue #12 point 12 (last item): TwoNN on 3 points returned 12.6 [6.1, 13.5] with no
warning. The minimum-N rule (``idscope._validation.check_sample_size``): too few points
is an error, fewer than ``SMALL_SAMPLE`` distinct points a ``SmallSampleWarning``."""

import warnings

import numpy as np
import pytest

import idscope
from idscope import InputError, SmallSampleWarning
from idscope._validation import SMALL_SAMPLE


@pytest.mark.parametrize("estimate", [
    lambda X: idscope.twonn(X),
    lambda X: idscope.twonn(X, method="mle"),
    lambda X: idscope.twonn(X, duplicates="drop-ties"),
    lambda X: idscope.mle(X, k=2),
    lambda X: idscope.gride(X),
])
def test_a_handful_of_points_warns(rng, estimate):
    X = rng.normal(size=(5, 4))
    with pytest.warns(SmallSampleWarning, match="only 5 distinct points"):
        estimate(X)


def test_three_points_warn_and_two_are_an_error(rng):
    with pytest.warns(SmallSampleWarning, match="only 3 distinct points"):
        idscope.twonn(rng.normal(size=(3, 4)))
    with pytest.raises(InputError, match="needs at least 3"):
        idscope.twonn(rng.normal(size=(2, 4)))
    # duplicates do not count: 25 rows, 4 of them distinct
    X = np.repeat(rng.normal(size=(4, 3)), [10, 5, 5, 5], axis=0)
    with pytest.warns(SmallSampleWarning, match=r"only 4 distinct points after removing 21"):
        idscope.twonn(X)


def test_enough_points_do_not_warn(rng):
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallSampleWarning)
        idscope.twonn(rng.normal(size=(SMALL_SAMPLE, 3)))
        idscope.mle(rng.normal(size=(SMALL_SAMPLE + 5, 3)), k=5)
