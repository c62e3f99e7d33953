"""Hostile uploads and pastes: malformed files through Quick analysis' file uploader and paste
box. Each must give a message (or a result), never an exception, a traceback, raw HTML from
the file, or minutes of server work."""

from __future__ import annotations

import codecs
import time
from pathlib import Path

import pytest

from metrics.experiments.summary_csv import MAX_BYTES, MAX_VARIANTS
from tests.hostile_helpers import INJECTED_HTML, file_hash, new_app, problems

HEADER = "variant,units,conversions\n"
GOOD = HEADER + "control,10000,500\ntreatment,10000,560\n"

UPLOADS: dict[str, bytes] = {
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
    "zip": b"PK\x03\x04" + b"\x00" * 200,
    "utf16_bom": GOOD.encode("utf-16"),
    "latin1": (HEADER + "contr\xf4le,10,1\nb,10,2\n").encode("latin-1"),
    "utf8_bom": codecs.BOM_UTF8 + GOOD.encode(),
    "empty": b"",
    "header_only": HEADER.encode(),
    "nul_bytes": GOOD.encode().replace(b"500", b"5\x000"),
    "cr_only_newlines": GOOD.replace("\n", "\r").encode(),
    "unbalanced_quote": (HEADER + '"control,10000,500\ntreatment,10000,560\n').encode(),
    "field_over_csv_limit": (HEADER + "a" * 140_000 + ",10,1\nb,10,2\n").encode(),
    "ten_thousand_columns": (",".join(f"c{i}" for i in range(10_000)) + "\n").encode(),
    "too_many_variants": (HEADER + "".join(f"v{i},100,1\n" for i in range(5_000))).encode(),
    "just_under_5mb": (HEADER + "v,100,1\n" * 600_000).encode()[:4_900_000],
    "huge_numbers": (HEADER + "a,1e309,1\nb,10,99999999999999999999999\n").encode(),
    "negative_and_fractions": (HEADER + "a,-10,1\nb,10.5,-2\n").encode(),
    "formula_names": (HEADER + "=cmd|'/c calc'!A1,10000,500\n@SUM(A1),10000,560\n").encode(),
    "html_names": (HEADER + f'control,10000,500\n"{INJECTED_HTML}",10000,560\n').encode(),
    "json_not_csv": b'{"variant": "a", "units": 10}',
    "duplicate_variants": (HEADER + "a,10,1\na,10,2\n").encode(),
}
PASTES: dict[str, str] = {
    "nul": GOOD.replace("500", "5\x000"),
    "bidi_and_emoji": HEADER + "\u202econtrol🙂,10000,500\n𝕏,10000,560\n",
    "too_many_variants": HEADER + "".join(f"v{i},100,1\n" for i in range(2_000)),
    "html_names": HEADER + f'control,10000,500\n"{INJECTED_HTML}",10000,560\n',
    "only_whitespace": " \n\t\n ",
}
CPU_LIMIT_S = 5.0
"""CPU seconds one hostile input may cost the server (a 4.9 MB upload once ran 9+ minutes)."""


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> Path:
    from data.demo import generator as demo

    path = tmp_path_factory.mktemp("hostile_uploads") / "demo.duckdb"
    demo.generate(str(path), customers=1_000, seed=8)
    return path


@pytest.fixture
def quick(demo_file: Path, monkeypatch, tmp_path):
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", f"duckdb:///{demo_file}")
    monkeypatch.setenv("LOOPLENS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    monkeypatch.setenv("LOOPLENS_SERVING_URL", f"duckdb:///{tmp_path / 'serving.duckdb'}")
    before = file_hash(demo_file)
    at = new_app(clear=False)
    at.run()
    at.switch_page("pages/quick_analysis.py")
    at.run()
    yield at
    assert file_hash(demo_file) == before, "the warehouse file changed"


def _answered(at) -> bool:
    """The page said something about the input: an error, or a verdict."""
    return bool(at.error) or any("Recommendation" in m.value for m in at.markdown)


@pytest.mark.parametrize("name", list(UPLOADS))
def test_hostile_upload(quick, name: str) -> None:
    quick.radio(key="qa_input").set_value("Upload a file").run()
    t0 = time.process_time()
    quick.get("file_uploader")[0].set_value((f"{name}.csv", UPLOADS[name], "text/csv")).run()
    cpu = time.process_time() - t0
    assert problems(quick) == []
    assert _answered(quick)
    assert cpu < CPU_LIMIT_S, f"{cpu:.1f} s of CPU"
    if len(UPLOADS[name]) > MAX_BYTES:
        assert any(f"{MAX_BYTES:,} accepted" in e.value for e in quick.error)


@pytest.mark.parametrize("name", list(PASTES))
def test_hostile_paste(quick, name: str) -> None:
    t0 = time.process_time()
    quick.text_area(key="qa_paste").set_value(PASTES[name]).run()
    cpu = time.process_time() - t0
    assert problems(quick) == []
    assert cpu < CPU_LIMIT_S, f"{cpu:.1f} s of CPU"
    if name == "too_many_variants":
        assert any(f"at most {MAX_VARIANTS}" in e.value for e in quick.error)
