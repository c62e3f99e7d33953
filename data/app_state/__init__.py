"""The app-state store: what LoopLens itself writes (experiment decisions), never the warehouse.

``store`` opens the store and owns its schema; ``decisions`` is the append-only decision log."""
