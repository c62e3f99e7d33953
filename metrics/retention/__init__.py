"""Retention and lifetime value: cohort retention SQL, BG/NBD and Gamma-Gamma CLV models.

- :mod:`metrics.retention.summary`: the per-customer (x, t_x, T, monetary) summary in SQL,
  grouped into identical triples with weights.
- :mod:`metrics.retention.bgnbd`: BG/NBD (Fader, Hardie & Lee 2005) maximum-likelihood fit
  and predictions (expected purchases, probability alive).
- :mod:`metrics.retention.gamma_gamma`: Gamma-Gamma spend model (Fader & Hardie 2013).
- :mod:`metrics.retention.clv`: discounted predictive CLV from the two fits.
- :mod:`metrics.retention.cohorts`: cohort retention, repeat-purchase and CLV:CAC SQL.
"""
