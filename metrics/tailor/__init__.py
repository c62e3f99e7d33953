"""Tailor (1:1 personalisation): persona × lifecycle-stage grid, personalised-vs-generic lift,
propensity / churn-risk scores. Pure SQLAlchemy Core builders and statistics; no Streamlit."""
