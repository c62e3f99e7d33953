"""Every table of the app: ``st.dataframe`` with readable headers and ``–`` for missing values.

Columns a page does not configure get a readable header from :func:`metrics.formatting.header`
(``observed_change`` → ``Observed change``), and missing values show ``–`` instead of Streamlit's
default ``None``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from metrics.formatting import MISSING, header


def dataframe(data: Any, **kwargs: Any) -> Any:
    """``st.dataframe(data, **kwargs)`` with readable default headers and ``–`` placeholders."""
    kwargs.setdefault("placeholder", MISSING)
    config = dict(kwargs.pop("column_config", None) or {})
    if isinstance(data, pd.DataFrame):
        for column in data.columns:
            config.setdefault(str(column), header(column))
    return st.dataframe(data, column_config=config, **kwargs)
