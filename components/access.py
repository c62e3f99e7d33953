"""Sign-in with Streamlit's own ``st.login`` (OpenID Connect) and the session's role.

Sign-in is on when ``.streamlit/secrets.toml`` has an ``[auth]`` section (Streamlit's format:
``redirect_uri``, ``cookie_secret``, ``client_id``, ``client_secret``, ``server_metadata_url``);
roles come from ``[looplens.roles]`` (see ``data.access`` and docs/security.md). Without
``[auth]`` the app runs in local mode and says that decisions are unauthenticated.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import streamlit as st

from components.escaping import md_text
from components.navigation import PAGE_SPECS
from data.access import Access, AccessPolicy, PolicyError, local_access, resolve_access
from i18n import _

LOGGER = logging.getLogger(__name__)
SECURITY_DOC = "docs/security.md"
LOCAL_MODE_NOTE = (
    "**Local mode: nobody signs in.** Anyone who can reach this server can record and approve "
    "decisions under any name they type; decisions are marked unverified. Configure sign-in "
    f"before sharing the app ({SECURITY_DOC})."
)


def _section(name: str) -> Mapping[str, Any] | None:
    """A top-level table of Streamlit's secrets, or None (no file, no table, unreadable)."""
    try:
        value = st.secrets.get(name)
    except Exception:  # noqa: BLE001 - no or malformed secrets.toml must not break the app
        return None
    return value if isinstance(value, Mapping) else None


def auth_configured() -> bool:
    """True when ``[auth]`` is in the secrets: the app then requires sign-in."""
    return bool(_section("auth"))


def _login_provider() -> str | None:
    """``[looplens] provider``: which ``[auth.<name>]`` provider ``st.login`` uses (default:
    the one configured directly under ``[auth]``)."""
    section = _section("looplens") or {}
    provider = section.get("provider")
    return provider if isinstance(provider, str) and provider.strip() else None


def current_access() -> Access:
    """What this session may do: local mode, signed out, or the signed-in identity's role.

    Raises :class:`data.access.PolicyError` when ``[looplens.roles]`` is malformed.
    """
    if not auth_configured():
        return local_access()
    policy = AccessPolicy.from_config(_section("looplens"))
    claims = st.user.to_dict()  # {"is_logged_in": False} or {} until someone signs in
    return resolve_access(auth_configured=True, claims=claims, policy=policy)


def render_access_gate() -> Access | None:
    """Called by ``app.py`` before its navigation: the session's access, or None when the
    person may not see the app (then this drew a sign-in or "no access" screen instead).

    An invalid roles configuration fails closed: nobody gets in, and the server log (not the
    page, which strangers may see) lists the problems.
    """
    try:
        access = current_access()
    except PolicyError as exc:
        LOGGER.error(_("LoopLens access configuration: %s"), "; ".join(exc.issues))
        count = len(exc.issues)
        _screen(lambda: _config_problem(count))
        return None
    if access.can_view:
        return access
    _screen(lambda: _sign_in() if not access.signed_in else _no_access(access))
    return None


def _screen(draw: Any) -> None:
    """Show one screen instead of every page (hidden navigation): a link to any page of the app
    shows this screen too, without Streamlit's "page not found" dialog."""

    def sign_in() -> None:
        draw()

    pages = [st.Page(sign_in, title=_("Sign in"), default=True)]
    pages += [
        st.Page(sign_in, title=spec.title, url_path=spec.url_path)
        for spec in PAGE_SPECS
        if not spec.default
    ]
    st.navigation(pages, position="hidden").run()


def _sign_in() -> None:
    st.title(_("LoopLens"))
    st.markdown(_("Sign in with your organisation's account to see the dashboards."))
    if st.button(_("Sign in"), type="primary", key="access_sign_in", icon=":material/login:"):
        provider = _login_provider()
        try:
            if provider:
                st.login(provider)
            else:
                st.login()
        except Exception as exc:  # noqa: BLE001 - a misconfigured [auth] must give a message
            LOGGER.error(_("st.login failed: %s"), exc)
            st.error(
                _(
                    "**Sign-in is misconfigured.** The `[auth]` section of the server's secrets is "
                    "incomplete or Authlib is not installed; the server log says which. See "
                    "{SECURITY_DOC}."
                ).format(SECURITY_DOC=SECURITY_DOC),
                icon=":material/error:",
            )


def _no_access(access: Access) -> None:
    st.title(_("LoopLens"))
    st.warning(
        _(
            "You are signed in as **{md_text}**, but this identity has no LoopLens role. Ask "
            "whoever administers LoopLens to add you to `[looplens.roles]`."
        ).format(md_text=md_text(access.who or "")),
        icon=":material/block:",
    )
    if st.button(_("Sign out"), key="access_sign_out_denied", icon=":material/logout:"):
        st.logout()


def _config_problem(count: int) -> None:
    st.title(_("LoopLens"))
    st.error(
        _(
            "**The access configuration is invalid** ({count} problem(s) in `[looplens]` of the "
            "server's secrets file; the server log lists them). Nobody can sign in until it is "
            "fixed. See {SECURITY_DOC}."
        ).format(count=count, SECURITY_DOC=SECURITY_DOC),
        icon=":material/error:",
    )


def render_sidebar_identity(access: Access) -> None:
    """Who is signed in, with which role, and a sign-out button; or the local-mode warning."""
    with st.sidebar:
        if access.local:
            st.caption(":material/lock_open: " + LOCAL_MODE_NOTE)
            return
        who = md_text(access.who or "")
        st.caption(
            ":material/person: "
            + _("Signed in as **{who}** · {role}").format(who=who, role=access.role.label)
        )
        if st.button(_("Sign out"), key="access_sign_out", icon=":material/logout:"):
            st.logout()
