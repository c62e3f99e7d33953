"""What the BG/NBD and Gamma-Gamma fits share: inference on the log of positive parameters.

Both models are fitted on log parameters (so every value stays positive); the inverse observed
information there is the asymptotic covariance ``log_cov``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def std_errors(names: Sequence[str], values: np.ndarray, log_cov: np.ndarray) -> dict[str, float]:
    """Delta-method standard errors of the parameters: ``value × se(log value)``."""
    se_log = np.sqrt(np.clip(np.diag(log_cov), 0.0, None))
    return {n: float(v * s) for n, v, s in zip(names, values, se_log, strict=True)}


def log_normal_draws(values: np.ndarray, log_cov: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` parameter vectors (rows) drawn from the asymptotic normal of the log parameters."""
    rng = np.random.default_rng(seed)
    return np.exp(rng.multivariate_normal(np.log(values), log_cov, size=n, method="eigh"))
