"""Predictive CLV for analysts: ``python -m metrics.clv fit ...`` and its Python API.

The models live in :mod:`metrics.retention`; this package is the command line
(:mod:`metrics.clv.cli`) and re-exports the calls an analyst needs.
"""

from metrics.retention.clv import CLVSettings, predict_clv
from metrics.retention.model import CLVModels, fit_frame, fit_models
from metrics.retention.transactions_csv import parse_transactions_csv

__all__ = [
    "CLVModels",
    "CLVSettings",
    "fit_frame",
    "fit_models",
    "parse_transactions_csv",
    "predict_clv",
]
