"""``metrics.stats.distributions`` against ``scipy.stats`` (the independent reference), and the
reason it exists: the analysis modules no longer import ``scipy.stats``."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from metrics.stats.distributions import NORMAL, chisquare, student_t

X = np.array([-40.0, -8.5, -3.0, -1.0, -1e-9, 0.0, 0.3, 1.959964, 4.0, 12.0, 38.0])
Q = np.array([1e-300, 1e-12, 1e-6, 0.001, 0.025, 0.05, 0.3, 0.5, 0.9, 0.999, 1 - 1e-12])


def test_normal_matches_scipy_stats() -> None:
    np.testing.assert_allclose(NORMAL.cdf(X), stats.norm.cdf(X), rtol=1e-13, atol=0)
    np.testing.assert_allclose(NORMAL.sf(X), stats.norm.sf(X), rtol=1e-13, atol=0)
    np.testing.assert_allclose(NORMAL.pdf(X), stats.norm.pdf(X), rtol=1e-13, atol=0)
    np.testing.assert_allclose(NORMAL.isf(Q), stats.norm.isf(Q), rtol=1e-13)
    np.testing.assert_allclose(NORMAL.ppf(Q), stats.norm.ppf(Q), rtol=1e-13)
    assert NORMAL.sf(30.0) == pytest.approx(4.906713927148187e-198, rel=1e-12)  # not 1 − cdf


@pytest.mark.parametrize("df", [1.0, 2.5, 7.0, 30.0, 411.3, 1e6])
def test_student_t_matches_scipy_stats(df: float) -> None:
    t = student_t(df)
    np.testing.assert_allclose(t.cdf(X), stats.t.cdf(X, df), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(t.sf(X), stats.t.sf(X, df), rtol=1e-12, atol=1e-300)
    inner = Q[(Q > 1e-12) & (Q < 1 - 1e-12)]
    np.testing.assert_allclose(t.isf(inner), stats.t.isf(inner, df), rtol=1e-10)
    np.testing.assert_allclose(t.ppf(inner), stats.t.ppf(inner, df), rtol=1e-10)
    with pytest.raises(NotImplementedError):
        t.pdf(0.0)


def test_chisquare_matches_scipy_stats() -> None:
    observed = np.array([5120, 4880])
    expected = np.array([5000.0, 5000.0])
    mine, ref = chisquare(observed, expected), stats.chisquare(observed, f_exp=expected)
    assert mine.statistic == pytest.approx(ref.statistic, rel=1e-14)
    assert mine.pvalue == pytest.approx(ref.pvalue, rel=1e-12)
    three = chisquare([310, 402, 288], [333.3, 333.3, 333.4])
    ref3 = stats.chisquare([310, 402, 288], f_exp=[333.3, 333.3, 333.4])
    assert three.pvalue == pytest.approx(ref3.pvalue, rel=1e-12)


def test_the_analysis_path_does_not_import_scipy_stats() -> None:
    """The app server loads the analysis modules; scipy.stats would add ~24 MB of RSS."""
    code = (
        "import sys\n"
        "import metrics.experiments.analysis, metrics.experiments.views\n"
        "import metrics.experiments.planner, metrics.stats.engine, data.demo\n"
        "print('scipy.stats' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
