"""The app-state store: what LoopLens itself writes (experiment decisions), never the warehouse.

``store`` opens the store and owns its schema; ``decisions`` is the append-only decision log."""

from data.app_state import alerts, targets  # noqa: E402,F401  (register their tables)
