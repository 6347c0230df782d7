import math

import numpy as np
import pytest

from dsl_deploy.bench.stats import ratio, summarize


def test_summarize_matches_numpy():
    rng = np.random.default_rng(3)
    xs = rng.gamma(2.0, 3.0, size=101)
    s = summarize(xs)
    assert s["n"] == 101
    assert s["min"] == pytest.approx(xs.min()) and s["max"] == pytest.approx(xs.max())
    assert s["median"] == pytest.approx(np.median(xs))
    assert s["mean"] == pytest.approx(xs.mean())
    assert s["std"] == pytest.approx(xs.std(ddof=1))
    assert s["p90"] == pytest.approx(np.percentile(xs, 90))
    assert s["min"] <= s["median"] <= s["p90"] <= s["p99"] <= s["max"]


def test_summarize_single_and_empty():
    assert summarize([4.0])["std"] == 0.0
    empty = summarize([])
    assert empty["n"] == 0 and math.isnan(empty["median"])


def test_ratio():
    assert ratio(100.0, 4.0) == pytest.approx(25.0)
    assert ratio(100.0, 0.0) is None
    assert ratio(math.nan, 1.0) is None
