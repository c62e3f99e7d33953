"""Benchmarks: ``python -m bench`` prints LoopLens' performance figures (no assertions)."""
