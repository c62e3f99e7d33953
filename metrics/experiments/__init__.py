"""Experiments (the Evolve loop): metric definitions, sufficient-statistics SQL, analysis, page
views, the planner, the Evolve summary and the ``python -m metrics.experiments`` CLI.

The statistics themselves live in :mod:`metrics.stats` and never see rows."""
