"""The sign-in gate in app.py under AppTest: with [auth] configured nothing of the app runs
before sign-in, and a malformed roles section locks everyone out (fail closed).

The sign-in itself (st.login against a real provider) is in tests/test_auth_browser.py.
"""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")
AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "0123456789abcdef" * 4,
    "client_id": "looplens",
    "client_secret": "not-used",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}


def _run(**sections: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for name, value in sections.items():
        at.secrets[name] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _app_ran(at: AppTest) -> bool:
    """The frame ran past the gate: the global filters are drawn."""
    return any(w.label == "Date range" for w in at.date_input)


def test_signed_out_visitors_get_only_the_sign_in_button() -> None:
    at = _run(auth=AUTH, looplens={"roles": {"viewer": ["@example.com"]}})
    assert [b.label for b in at.button] == ["Sign in"]
    assert not _app_ran(at)
    assert not at.error


def test_a_malformed_roles_section_locks_everyone_out(caplog) -> None:
    at = _run(auth=AUTH, looplens={"default_role": "owner", "roles": {"viewer": ["not-an-email"]}})
    (error,) = at.error
    assert "access configuration is invalid" in error.value and "2 problem(s)" in error.value
    assert "not-an-email" not in error.value  # the rules are for the log, not for strangers
    assert "not-an-email" in caplog.text and "unknown role 'owner'" in caplog.text
    assert not at.button and not _app_ran(at)


def test_without_auth_the_app_runs_in_local_mode(monkeypatch, tmp_path: Path) -> None:
    # No warehouse behind it (the frame still runs and says so): fast, and no demo generated.
    monkeypatch.setenv("LOOPLENS_HOME", str(tmp_path))
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'missing.duckdb'}")
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    at = _run()
    assert _app_ran(at)
    assert any("Local mode: nobody signs in" in c.value for c in at.caption)
