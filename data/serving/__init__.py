"""The serving layer: exact pre-aggregated tables that pages read instead of the raw warehouse.

The warehouse stays read-only. A *refresh* (``python -m data.serving refresh [--full]``, the
Data health page's button, or the demo's first start) runs aggregate SELECTs there and writes
the results to the **serving store**: an embedded DuckDB file under ``LOOPLENS_HOME`` by
default, or any SQLAlchemy URL (``LOOPLENS_SERVING_URL`` / ``[connections.serving] url``).

- :mod:`data.serving.rollups` declares each serving table: what it covers, the warehouse query
  that fills it, and how it is partitioned for incremental refresh.
- :mod:`data.serving.refresh` builds them (full or incremental, locked, atomic).
- :mod:`data.serving.store` opens the store for reading and says what it covers and how fresh
  it is; the metrics layer routes a question to it only when it covers the question.

The figures are exact: counts equal live SQL exactly, sums up to floating-point summation order.
"""

from data.serving.config import ServingConfig, resolve_serving_config
from data.serving.store import RefreshRecord, ServingStore

__all__ = ["RefreshRecord", "ServingConfig", "ServingStore", "resolve_serving_config"]
