"""The warehouse contract: every table and column LoopLens reads.

Defined once with SQLAlchemy Core so the same definitions create the demo warehouse on any
dialect (DuckDB, SQLite, PostgreSQL, ...) and drive the data-health checks. A team maps its
own data onto these names with views (see ``docs/warehouse.md``).

Conventions
-----------
- Timestamps are UTC, stored without a time zone (``TIMESTAMP``).
- Money is in one currency, **US dollars** (``spend``, ``revenue``, ``value``).
- Identifiers are integers except experiment ids (short text slugs).
- No database-side defaults or autoincrement: the loader supplies every value, which keeps the
  DDL portable (DuckDB rejects ``SERIAL``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

CURRENCY = "USD"


class Channel(StrEnum):
    """Marketing channels (tracked acquisition channel and touchpoint channel)."""

    PAID_SEARCH = "paid_search"
    ORGANIC_SEARCH = "organic_search"
    PAID_SOCIAL = "paid_social"
    ORGANIC_SOCIAL = "organic_social"
    EMAIL = "email"
    VIDEO = "video"
    COMMUNITY = "community"
    REFERRAL = "referral"
    DIRECT = "direct"


PAID_CHANNELS: frozenset[str] = frozenset({Channel.PAID_SEARCH, Channel.PAID_SOCIAL, Channel.VIDEO})
"""Channels bought with media spend; the rest are owned or earned."""


class Stage(StrEnum):
    """Lifecycle stages. ``dormant`` is entered from any stage and left on reactivation."""

    AWARENESS = "awareness"
    ENGAGEMENT = "engagement"
    EVALUATION = "evaluation"
    PURCHASE = "purchase"
    RETENTION = "retention"
    LOYALTY = "loyalty"
    DORMANT = "dormant"


FUNNEL_STAGES: tuple[Stage, ...] = (
    Stage.AWARENESS,
    Stage.ENGAGEMENT,
    Stage.EVALUATION,
    Stage.PURCHASE,
    Stage.RETENTION,
    Stage.LOYALTY,
)
"""The six ordered stages (dormant is outside the order)."""


class LoopStage(StrEnum):
    """The four marketing loops."""

    EXPRESS = "express"
    TAILOR = "tailor"
    AMPLIFY = "amplify"
    EVOLVE = "evolve"


class EventType(StrEnum):
    """Touchpoint event types."""

    IMPRESSION = "impression"
    CLICK = "click"
    VISIT = "visit"
    EMAIL_OPEN = "email_open"
    EMAIL_CLICK = "email_click"
    SIGNUP = "signup"
    TRIAL = "trial"
    PURCHASE = "purchase"
    SUPPORT_CONTACT = "support_contact"
    REFERRAL = "referral"
    REVIEW = "review"


class Segment(StrEnum):
    SMB = "smb"
    MID_MARKET = "mid_market"
    ENTERPRISE = "enterprise"


class Region(StrEnum):
    """Customer regions: the world regions of the USD demo, the Vietnamese regions of the VND
    demo (``python -m data.demo --currency VND``)."""

    NORTH_AMERICA = "north_america"
    EUROPE = "europe"
    APAC = "apac"
    LATAM = "latam"
    MIEN_BAC = "mien_bac"  # Northern Vietnam
    MIEN_TRUNG = "mien_trung"  # Central Vietnam
    MIEN_NAM = "mien_nam"  # Southern Vietnam
    TAY_NGUYEN = "tay_nguyen"  # Central Highlands


class SurveyKind(StrEnum):
    NPS = "nps"  # 0-10, "how likely are you to recommend us"
    CSAT = "csat"  # 1-5, "how satisfied were you"


class ExperimentStatus(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    CONCLUDED = "concluded"


metadata = MetaData()

customers = Table(
    "customers",
    metadata,
    Column("customer_id", BigInteger, primary_key=True, autoincrement=False),
    Column("first_seen_at", DateTime, nullable=False, comment="first tracked touch, UTC"),
    Column("acquisition_channel", String(32), nullable=False, comment="tracked first touch"),
    Column(
        "self_reported_source",
        String(32),
        nullable=True,
        comment="'how did you hear about us' answer, a Channel value or NULL",
    ),
    Column("segment", String(32), nullable=False),
    Column("persona", String(32), nullable=False),
    Column("region", String(32), nullable=False),
    comment="one row per customer (or lead)",
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("campaign_id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(128), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("target_stage", String(32), nullable=False, comment="Stage the campaign aims at"),
    Column("loop_stage", String(16), nullable=False, comment="express|tailor|amplify|evolve"),
    Column("is_personalised", Boolean, nullable=False, comment="1:1 tailored vs generic"),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=True, comment="NULL while running"),
    comment="one row per campaign",
)

touchpoints = Table(
    "touchpoints",
    metadata,
    Column("touchpoint_id", BigInteger, primary_key=True, autoincrement=False),
    Column("customer_id", BigInteger, nullable=False),
    Column("occurred_at", DateTime, nullable=False),
    Column("channel", String(32), nullable=False),
    Column("campaign_id", Integer, nullable=True, comment="NULL for unattributed touches"),
    Column("event_type", String(32), nullable=False),
    Column("value", Double, nullable=True, comment="USD for purchase events, else NULL"),
    comment="one row per behavioural event",
)

daily_spend = Table(
    "daily_spend",
    metadata,
    Column("spend_date", Date, primary_key=True),
    Column("campaign_id", Integer, primary_key=True, autoincrement=False),
    Column("channel", String(32), nullable=False),
    Column("spend", Double, nullable=False, comment="USD"),
    Column("impressions", BigInteger, nullable=False),
    Column("clicks", BigInteger, nullable=False),
    comment="one row per campaign per day (ad-platform reporting grain)",
)

orders = Table(
    "orders",
    metadata,
    Column("order_id", BigInteger, primary_key=True, autoincrement=False),
    Column("customer_id", BigInteger, nullable=False),
    Column("ordered_at", DateTime, nullable=False),
    Column("revenue", Double, nullable=False, comment="USD, net of discounts"),
    comment="one row per order",
)

lifecycle_changes = Table(
    "lifecycle_changes",
    metadata,
    Column("customer_id", BigInteger, nullable=False),
    Column("changed_at", DateTime, nullable=False),
    Column("from_stage", String(32), nullable=True, comment="NULL on the first entry"),
    Column("to_stage", String(32), nullable=False),
    comment="one row per stage change; non-linear (backward, dormant, reactivation)",
)

surveys = Table(
    "surveys",
    metadata,
    Column("survey_id", BigInteger, primary_key=True, autoincrement=False),
    Column("customer_id", BigInteger, nullable=False),
    Column("responded_at", DateTime, nullable=False),
    Column("kind", String(8), nullable=False, comment="nps (0-10) | csat (1-5)"),
    Column("score", Integer, nullable=False),
    Column("channel", String(32), nullable=True, comment="touchpoint the survey followed"),
    comment="one row per survey response",
)

experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", String(64), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("hypothesis", Text, nullable=False),
    Column("loop_stage", String(16), nullable=False),
    Column("primary_metric", String(64), nullable=False, comment="experiment metric name"),
    Column("secondary_metrics", Text, nullable=True, comment="comma-separated metric names"),
    Column("guardrail_metrics", Text, nullable=True, comment="comma-separated metric names"),
    Column("started_at", DateTime, nullable=False),
    Column("ended_at", DateTime, nullable=True, comment="NULL while running"),
    Column("status", String(16), nullable=False, comment="draft | running | concluded"),
    comment="one row per experiment",
)

experiment_variants = Table(
    "experiment_variants",
    metadata,
    Column("experiment_id", String(64), primary_key=True),
    Column("variant", String(64), primary_key=True),
    Column("is_control", Boolean, nullable=False),
    Column("expected_share", Double, nullable=False, comment="planned traffic share, 0-1"),
    comment="one row per variant of an experiment",
)

experiment_assignments = Table(
    "experiment_assignments",
    metadata,
    Column("experiment_id", String(64), nullable=False),
    Column("customer_id", BigInteger, nullable=False, comment="the randomisation unit"),
    Column("variant", String(64), nullable=False),
    Column("assigned_at", DateTime, nullable=False, comment="first exposure, UTC"),
    comment="one row per unit per experiment",
)

CONTRACT_TABLES: tuple[Table, ...] = (
    customers,
    campaigns,
    touchpoints,
    daily_spend,
    orders,
    lifecycle_changes,
    surveys,
    experiments,
    experiment_variants,
    experiment_assignments,
)


@dataclass(frozen=True)
class TableRole:
    """What the data-health page checks for one contract table."""

    time_column: str | None
    key_columns: tuple[str, ...]


TABLE_ROLES: dict[str, TableRole] = {
    "customers": TableRole("first_seen_at", ("customer_id", "acquisition_channel", "segment")),
    "campaigns": TableRole(None, ("campaign_id", "channel", "target_stage")),
    "touchpoints": TableRole("occurred_at", ("customer_id", "channel", "event_type")),
    "daily_spend": TableRole("spend_date", ("campaign_id", "channel", "spend")),
    "orders": TableRole("ordered_at", ("customer_id", "revenue")),
    "lifecycle_changes": TableRole("changed_at", ("customer_id", "to_stage")),
    "surveys": TableRole("responded_at", ("customer_id", "kind", "score")),
    "experiments": TableRole("started_at", ("experiment_id", "primary_metric", "status")),
    "experiment_variants": TableRole(None, ("experiment_id", "variant", "expected_share")),
    "experiment_assignments": TableRole("assigned_at", ("experiment_id", "customer_id", "variant")),
}


def create_contract(engine) -> None:  # noqa: ANN001 - any SQLAlchemy Engine
    """Create every contract table that does not exist yet."""
    metadata.create_all(engine)
