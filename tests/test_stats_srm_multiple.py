"""SRM chi-square and multiple-testing corrections vs independent references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats as sps

from metrics.stats import engine, multiple, srm
from metrics.stats.sufficient import VariantStats


def test_srm_matches_closed_form():
    obs, shares = [5300, 4700], [0.5, 0.5]
    r = srm.srm_test(obs, shares)
    exp = np.array(shares) * sum(obs)
    chi2 = ((np.array(obs) - exp) ** 2 / exp).sum()
    assert_allclose(r.chi2, chi2, rtol=1e-12)
    assert_allclose(r.p_value, sps.chi2.sf(chi2, 1), rtol=1e-10)
    assert r.flagged
    assert not srm.srm_test([5010, 4990]).flagged
    assert_allclose(srm.srm_test([3400, 3300, 3300], [1, 1, 1]).expected_shares, [1 / 3] * 3)


@pytest.mark.parametrize(
    ("obs", "shares"),
    [
        ([10], None),
        ([10, 5], [1]),
        ([0, 0], None),
        ([-1, 4], None),
        ([5, 5], [0, 1]),
        ([5, float("nan")], None),
    ],
)
def test_srm_bad_input(obs, shares):
    r = srm.srm_test(obs, shares)
    assert r.error_message and not r.flagged


def _holm(p):
    p = np.asarray(p)
    m, order = len(p), np.argsort(p)
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj


def _bh(p):
    p = np.asarray(p)
    m, order = len(p), np.argsort(p)[::-1]
    adj = np.empty(m)
    running = 1.0
    for rank, i in enumerate(order):
        running = min(running, p[i] * m / (m - rank))
        adj[i] = running
    return adj


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_adjusted_p_values_match_reference(seed):
    p = np.random.default_rng(seed).uniform(0, 0.2, 7)
    assert_allclose(multiple.adjust_p_values(p, "holm").adjusted_p_values, _holm(p), rtol=1e-12)
    assert_allclose(multiple.adjust_p_values(p, "fdr_bh").adjusted_p_values, _bh(p), rtol=1e-12)
    bonf = multiple.adjust_p_values(p, "bonferroni").adjusted_p_values
    assert_allclose(bonf, np.minimum(1, 7 * p), rtol=1e-12)


def test_nan_p_values_are_left_out():
    adj = multiple.adjust_p_values([0.01, float("nan"), 0.04], "holm")
    assert_allclose(adj.adjusted_p_values[0], 0.02)
    assert np.isnan(adj.adjusted_p_values[1])


@pytest.mark.parametrize("method", ["holm", "bonferroni"])
def test_adjusted_intervals_agree_with_adjusted_p(method):
    ctrl = VariantStats("control", 10000, 400, 400)
    arms = [VariantStats(v, 10000, x, x) for v, x in [("b", 445), ("c", 470), ("d", 520)]]
    res = engine.analyze_variants([ctrl, *arms], "control", "binomial", correction=method)
    raw = engine.analyze_variants([ctrl, *arms], "control", "binomial")
    for adj, r in zip(res, raw, strict=True):
        # decision scale: relative interval vs relative adjusted p
        lo, hi = adj.relative_ci
        assert (lo > 0 or hi < 0) == (adj.p_value_adjusted < 0.05) == adj.significant
        assert hi - lo >= r.relative_ci[1] - r.relative_ci[0]
        # absolute scale: its own family, its own interval
        lo, hi = adj.absolute_ci
        assert (lo > 0 or hi < 0) == (adj.absolute_p_value_adjusted < 0.05)
        assert hi - lo >= r.absolute_ci[1] - r.absolute_ci[0]
    if method == "bonferroni":
        z = sps.norm.isf(0.05 / 3 / 2)
        r = raw[0]
        assert_allclose(
            res[0].absolute_ci,
            (r.absolute_lift - z * r.absolute_se, r.absolute_lift + z * r.absolute_se),
            rtol=1e-9,
        )
        # log-ratio interval at 1 − alpha/m: exp(L ± z·se_L) − 1 (se_L from the counts)
        log_ratio, se_log = math.log(445 / 400), math.sqrt(0.9555 / 445 + 0.96 / 400)
        assert_allclose(
            res[0].relative_ci,
            (math.expm1(log_ratio - z * se_log), math.expm1(log_ratio + z * se_log)),
            rtol=1e-9,
        )
        assert_allclose([x.p_value_adjusted for x in res], [min(1, 3 * x.p_value) for x in raw])


def test_unknown_method_is_reported():
    assert multiple.adjust_p_values([0.1], "sidak-ish").error_message
