"""Anomaly detection on KPI series: an honest one-step-ahead forecast band (``detector``), the
channel or segment that explains a deviation (``drivers``), and the warehouse glue
(``series``). Pure: no Streamlit."""
