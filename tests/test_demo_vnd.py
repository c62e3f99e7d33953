"""The Vietnamese demo (``python -m data.demo --currency VND``): the USD world in đồng, with
Vietnamese campaigns and regions, and the app on it in Vietnamese."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import numpy as np
import pytest

from components.navigation import PAGE_SPECS
from data.demo import generator as demo
from data.demo.localise import VIETNAM
from data.schema import Region
from tests.apptest_helpers import run_page

END = "2026-11-30"


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path]:
    """The same seed generated twice: USD and VND."""
    import datetime as dt

    root = tmp_path_factory.mktemp("vnd")
    end = dt.date.fromisoformat(END)
    usd, vnd = root / "usd.duckdb", root / "vnd.duckdb"
    demo.generate(str(usd), customers=3_000, seed=5, end_date=end)
    demo.generate(str(vnd), customers=3_000, seed=5, end_date=end, currency="VND")
    return usd, vnd


def _query(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def test_money_is_the_usd_world_in_dong_rounded_to_thousands(pair) -> None:
    usd, vnd = pair
    for table, column, key in (
        ("orders", "revenue", "order_id"),
        ("daily_spend", "spend", "spend_date, campaign_id"),
        ("touchpoints", "value", "touchpoint_id"),
    ):
        sql = f"SELECT {column} FROM {table} ORDER BY {key}"
        a = np.array([r[0] for r in _query(usd, sql)], dtype=float)
        b = np.array([r[0] for r in _query(vnd, sql)], dtype=float)
        assert len(a) == len(b) > 0
        assert np.array_equal(np.isnan(a), np.isnan(b))
        known = ~np.isnan(a)
        assert np.array_equal(b[known], np.round(a[known] * 25_000 / 1_000) * 1_000), table
        assert np.all(b[known] % 1_000 == 0)
    # a purchase touchpoint still carries exactly its order's amount
    mismatched = _query(
        vnd,
        "SELECT count(*) FROM orders o JOIN touchpoints t ON t.customer_id = o.customer_id "
        "AND t.occurred_at = o.ordered_at AND t.event_type = 'purchase' "
        "WHERE t.value <> o.revenue",
    )
    assert mismatched == [(0,)]


def test_campaigns_and_regions_are_vietnamese_with_the_same_structure(pair) -> None:
    usd, vnd = pair
    sql = "SELECT campaign_id, name, channel, is_personalised FROM campaigns ORDER BY 1"
    before, after = _query(usd, sql), _query(vnd, sql)
    assert [r[2:] for r in before] == [r[2:] for r in after]  # channel, personalisation kept
    assert [VIETNAM.campaign_names[r[1]] for r in before] == [r[1] for r in after]
    assert any("Zalo OA" in r[1] for r in after) and any("Shopee" in r[1] for r in after)
    regions = dict(_query(vnd, "SELECT region, count(*) FROM customers GROUP BY 1"))
    assert set(regions) == {Region.MIEN_BAC, Region.MIEN_TRUNG, Region.MIEN_NAM, Region.TAY_NGUYEN}
    world = dict(_query(usd, "SELECT region, count(*) FROM customers GROUP BY 1"))
    assert regions[Region.MIEN_NAM] == world[Region.NORTH_AMERICA]  # same shares, renamed


def test_manifest_declares_the_currency(pair) -> None:
    usd, vnd = pair
    manifest = json.loads(Path(f"{vnd}.manifest.json").read_text(encoding="utf-8"))
    assert manifest["currency"] == "VND" and manifest["money_per_usd"] == 25_000
    assert "Zalo OA – bài viết của nhà sáng lập" not in manifest["story"]["personalised_campaigns"]
    assert all(n in VIETNAM.campaign_names.values()
               for n in manifest["story"]["personalised_campaigns"])  # fmt: skip
    assert json.loads(Path(f"{usd}.manifest.json").read_text())["currency"] == "USD"


def test_cli_refuses_an_unknown_currency(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        demo.main(["--out", str(tmp_path / "x.duckdb"), "--currency", "EUR"])
    assert exit_.value.code == 2
    assert "invalid choice: 'EUR'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unsupported demo currency 'EUR'"):
        demo.generate(str(tmp_path / "y.duckdb"), customers=1_000, currency="EUR")


def test_demo_files_follow_the_currency(monkeypatch) -> None:
    from data.app_state import store
    from data.serving import config
    from data.warehouse import demo_path

    monkeypatch.setenv("LOOPLENS_CURRENCY", "VND")
    assert demo_path().name == "demo-vnd.duckdb"
    assert config.default_path().name == "serving-vnd.duckdb"
    assert store.default_url().endswith("app_state-vnd.sqlite")
    monkeypatch.setenv("LOOPLENS_CURRENCY", "usd")
    assert demo_path().name == "demo.duckdb" and config.default_path().name == "serving.duckdb"


@pytest.fixture
def vnd_env(pair, monkeypatch, tmp_path) -> Path:
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", f"duckdb:///{pair[1]}")
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    monkeypatch.setenv("LOOPLENS_CURRENCY", "VND")
    return pair[1]


def _texts(at) -> str:
    parts = [m.value for m in at.markdown] + [m.value for m in at.caption]
    parts += [str(m.value) for m in at.metric] + [m.label for m in at.metric]
    return "\n".join(parts)


@pytest.mark.parametrize("spec", PAGE_SPECS, ids=lambda s: Path(s.path).stem)
def test_every_page_runs_in_vietnamese_on_the_vnd_demo(vnd_env: Path, spec) -> None:
    at = run_page(Path(spec.path).stem, query={"lang": "vi"})
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert "$" not in _texts(at)  # no dollar amount anywhere in the text


def test_loop_health_shows_dong_and_vietnamese_regions(vnd_env: Path) -> None:
    at = run_page(None, query={"lang": "vi"})
    assert not at.exception, [e.value for e in at.exception]
    money = [m.value for m in at.metric if "₫" in str(m.value)]
    assert money, [m.value for m in at.metric]
    assert all(re.search(r"\d", str(v)) for v in money)
    region = next(w for w in at.multiselect if w.key == "filter_regions")
    assert list(region.options) == ["Miền Bắc", "Miền Trung", "Miền Nam", "Tây Nguyên"]
