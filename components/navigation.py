"""The registered pages (finished ones only), as plain data that app.py and tests share."""

from __future__ import annotations

from dataclasses import dataclass

from i18n import N_

SECTIONS = (N_("Overview"), N_("Marketing"), N_("Experiments"), N_("Admin"))
"""The navigation's sections, in order (English msgids; app.py shows them translated)."""


@dataclass(frozen=True)
class PageSpec:
    section: str
    path: str
    title: str
    icon: str
    default: bool = False
    needs_warehouse: bool = True  # False: the page works (and stays open) without a warehouse

    @property
    def url_path(self) -> str:
        """The page's URL path under ``st.navigation`` (its file name without ``.py``)."""
        return self.path.removeprefix("pages/").removesuffix(".py")


PAGE_SPECS: tuple[PageSpec, ...] = (
    PageSpec("Overview", "pages/overview.py", "Loop health", ":material/monitoring:", True),
    PageSpec("Overview", "pages/breakdown.py", "Breakdown", ":material/account_tree:"),
    PageSpec("Overview", "pages/alerts.py", "Targets & alerts", ":material/notifications:"),
    PageSpec("Marketing", "pages/lifecycle.py", "Lifecycle", ":material/cycle:"),
    PageSpec("Marketing", "pages/channels.py", "Channels & attribution", ":material/campaign:"),
    PageSpec("Marketing", "pages/retention.py", "Retention & CLV", ":material/loyalty:"),
    PageSpec("Marketing", "pages/tailor.py", "Tailor", ":material/person_search:"),
    PageSpec("Experiments", "pages/experiments.py", "Experiments", ":material/science:"),
    PageSpec(
        "Experiments", "pages/experiment_detail.py", "Experiment detail", ":material/biotech:"
    ),
    PageSpec("Experiments", "pages/planner.py", "Planner", ":material/calculate:"),
    PageSpec(
        "Experiments",
        "pages/quick_analysis.py",
        "Quick analysis",
        ":material/upload_file:",
        needs_warehouse=False,
    ),
    PageSpec("Experiments", "pages/evolve.py", "Evolve", ":material/autorenew:"),
    PageSpec(
        "Admin",
        "pages/data_health.py",
        "Data health",
        ":material/health_and_safety:",
        needs_warehouse=False,  # it diagnoses the warehouse itself
    ),
)


OFFLINE_PAGES: frozenset[str] = frozenset(s.url_path for s in PAGE_SPECS if not s.needs_warehouse)
"""URL paths of the pages that run without a reachable warehouse."""
