"""LoopLens reports outside the app: alert runs (``reports.alerts``) and their delivery by
e-mail and webhook (``reports.delivery``). Run ``python -m reports --help``."""
