"""Experiment statistics: pure functions on per-variant sufficient statistics.

Entry points: ``metrics.stats.engine`` (``analyze_metric``, ``analyze_variants``, ``check_srm``),
``metrics.stats.recommendation.recommend``, ``metrics.stats.power`` (planning),
``metrics.stats.multiple.adjust_results``. Building blocks: ``moments`` (per-variant value and
variance, CUPED), ``frequentist``, ``bayesian``, ``sequential``, ``srm``, ``simulate``.
"""
