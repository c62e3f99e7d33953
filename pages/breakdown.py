"""Breakdown: the rows behind a KPI figure (by channel, campaign, segment, region, persona or
campaign stage), drilled down along a path kept in the URL. Thin: components.drilldown."""

from __future__ import annotations

from components.drilldown import render_breakdown

render_breakdown()
