"""Experiment statistics: pure functions on per-variant sufficient statistics."""
