"""The registered pages (finished ones only), as plain data that app.py and tests share."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    section: str
    path: str
    title: str
    icon: str
    default: bool = False


PAGE_SPECS: tuple[PageSpec, ...] = (
    PageSpec("Overview", "pages/overview.py", "Loop health", ":material/monitoring:", True),
    PageSpec("Marketing", "pages/lifecycle.py", "Lifecycle", ":material/cycle:"),
    PageSpec("Marketing", "pages/channels.py", "Channels & attribution", ":material/campaign:"),
    PageSpec("Experiments", "pages/experiments.py", "Experiments", ":material/science:"),
    PageSpec(
        "Experiments", "pages/experiment_detail.py", "Experiment detail", ":material/biotech:"
    ),
    PageSpec("Experiments", "pages/planner.py", "Planner", ":material/calculate:"),
    PageSpec("Experiments", "pages/quick_analysis.py", "Quick analysis", ":material/upload_file:"),
    PageSpec("Experiments", "pages/evolve.py", "Evolve", ":material/autorenew:"),
    PageSpec("Admin", "pages/data_health.py", "Data health", ":material/health_and_safety:"),
)
