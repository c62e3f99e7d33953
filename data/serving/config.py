"""Where the serving store is.

Resolution order: ``[connections.serving] url`` in ``.streamlit/secrets.toml``, then the
environment variable ``LOOPLENS_SERVING_URL``, then the embedded DuckDB file
``$LOOPLENS_HOME/serving.duckdb`` (``.looplens/serving.duckdb`` by default;
``serving-vnd.duckdb`` for the VND demo).
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from data.warehouse import STATE_DIR, demo_currency, duckdb_path, mask_url, read_secrets_url

ENV_VAR = "LOOPLENS_SERVING_URL"
DEFAULT_PATH = STATE_DIR / "serving.duckdb"

ServingSource = Literal["secrets", "env", "default"]


@dataclass(frozen=True)
class ServingConfig:
    """A resolved serving-store location; ``url`` may hold a password (show ``masked_url``)."""

    url: str
    source: ServingSource

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    @property
    def file_path(self) -> Path | None:
        """The DuckDB file behind the URL (refreshed by atomic file swap), else None."""
        return duckdb_path(self.url)


def resolve_serving_config(secrets_url: str | None = None) -> ServingConfig:
    """Secrets, then ``LOOPLENS_SERVING_URL``, then the default DuckDB file."""
    if secrets_url is None:
        try:
            secrets_url = read_secrets_url(connection="serving")
        except (OSError, tomllib.TOMLDecodeError):
            secrets_url = None
    if secrets_url:
        return ServingConfig(secrets_url, "secrets")
    env_url = os.environ.get(ENV_VAR, "").strip()
    if env_url:
        return ServingConfig(env_url, "env")
    return ServingConfig(f"duckdb:///{default_path()}", "default")


def default_path() -> Path:
    """The default serving file: ``serving.duckdb``, or ``serving-vnd.duckdb`` beside the VND
    demo (``LOOPLENS_CURRENCY=VND``), so each demo keeps its own serving layer."""
    code = demo_currency()
    return (
        DEFAULT_PATH if code == "USD" else DEFAULT_PATH.with_name(f"serving-{code.lower()}.duckdb")
    )


def warehouse_fingerprint(warehouse_url: str) -> str:
    """A stable, password-free identity of the warehouse a serving store was built from."""
    return hashlib.sha256(warehouse_url.encode()).hexdigest()[:16]
