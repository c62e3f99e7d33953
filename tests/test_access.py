"""data.access: roles from the signed-in identity, on its own (no Streamlit, no provider)."""

from __future__ import annotations

import tomllib

import pytest

from data.access import (
    Access,
    AccessDenied,
    AccessPolicy,
    Identity,
    PolicyError,
    Role,
    local_access,
    resolve_access,
)

POLICY_TOML = """
[looplens]
default_role = "none"
groups_claim = "roles"

[looplens.roles]
viewer = ["@example.com"]
analyst = ["Ana@Example.com", "group:Growth"]
approver = ["lead@example.com", "group:growth-leads"]
"""


@pytest.fixture
def policy() -> AccessPolicy:
    return AccessPolicy.from_config(tomllib.loads(POLICY_TOML)["looplens"])


def _claims(**claims: object) -> dict[str, object]:
    return {"is_logged_in": True, "sub": "abc", **claims}


@pytest.mark.parametrize(
    ("claims", "role"),
    [
        ({"email": "vic@example.com"}, Role.VIEWER),  # domain rule
        ({"email": "ana@example.com"}, Role.ANALYST),  # e-mail rule, case ignored in the rule
        ({"email": "ANA@EXAMPLE.COM"}, Role.ANALYST),  # ... and in the claim
        ({"email": "lead@example.com"}, Role.APPROVER),
        ({"email": "x@other.org", "roles": ["growth"]}, Role.ANALYST),  # group rule
        ({"email": "x@other.org", "roles": "growth-leads"}, Role.APPROVER),  # one text group
        ({"email": "ana@example.com", "roles": ["growth-leads"]}, Role.APPROVER),  # highest wins
        ({"email": "x@other.org"}, Role.NONE),  # unlisted: the default (none)
        ({"email": "x@example.com.evil.org"}, Role.NONE),  # a domain rule is a suffix on "@"
        ({"email": "x@evilexample.com"}, Role.NONE),
        ({"email": "lead@example.com", "email_verified": False}, Role.NONE),  # unverified e-mail
        ({"email": "lead@example.com", "email_verified": False, "roles": ["growth"]}, Role.ANALYST),
        ({"roles": ["growth"]}, Role.ANALYST),  # no e-mail at all: groups still count
        ({"email": "ana@example.com", "groups": ["growth-leads"]}, Role.ANALYST),  # other claim
        ({"email": "x@other.org", "roles": {"growth": True}}, Role.NONE),  # not a list
    ],
)
def test_role_of_an_identity(policy: AccessPolicy, claims: dict, role: Role) -> None:
    access = resolve_access(auth_configured=True, claims=_claims(**claims), policy=policy)
    assert access.role is role
    assert access.signed_in and not access.local


def test_default_role_applies_to_unlisted_identities() -> None:
    policy = AccessPolicy.from_config({"default_role": "Viewer", "roles": {"analyst": ["a@b.io"]}})
    assert policy.role_of(Identity("s", email="z@q.io")) is Role.VIEWER
    assert policy.role_of(Identity("s", email="a@b.io")) is Role.ANALYST
    assert AccessPolicy.from_config(None).role_of(Identity("s", email="a@b.io")) is Role.NONE


def test_permissions_follow_the_role_order() -> None:
    table = {
        role: (Access(role).can_view, Access(role).can_record, Access(role).can_approve)
        for role in Role
    }
    assert table == {
        Role.NONE: (False, False, False),
        Role.VIEWER: (True, False, False),
        Role.ANALYST: (True, True, False),
        Role.APPROVER: (True, True, True),
    }


def test_require_names_the_missing_role(policy: AccessPolicy) -> None:
    access = resolve_access(
        auth_configured=True, claims=_claims(email="vic@example.com"), policy=policy
    )
    with pytest.raises(AccessDenied, match=r"vic@example\.com is signed in as viewer.*analyst"):
        access.require(Role.ANALYST, "recording a decision")
    access.require(Role.VIEWER, "viewing")  # allowed: no exception


def test_decided_by_is_the_verified_email_or_the_subject(policy: AccessPolicy) -> None:
    ana = resolve_access(
        auth_configured=True, claims=_claims(email=" Ana@Example.com ", name="Ana"), policy=policy
    )
    assert ana.who == "ana@example.com"
    assert ana.identity is not None and ana.identity.name == "Ana"
    nomail = resolve_access(auth_configured=True, claims=_claims(roles=["growth"]), policy=policy)
    assert nomail.who == "sub:abc"


def test_an_approver_cannot_approve_their_own_decision(policy: AccessPolicy) -> None:
    lead = resolve_access(
        auth_configured=True, claims=_claims(email="lead@example.com"), policy=policy
    )
    assert lead.may_approve("ana@example.com")
    assert not lead.may_approve(" LEAD@example.com")
    ana = resolve_access(
        auth_configured=True, claims=_claims(email="ana@example.com"), policy=policy
    )
    assert not ana.may_approve("someone@example.com")  # analyst: no approving at all


def test_local_mode_allows_everything_unauthenticated() -> None:
    access = resolve_access(auth_configured=False, claims=None, policy=AccessPolicy())
    assert access == local_access()
    assert access.local and not access.signed_in and access.who is None
    assert access.can_record and access.can_approve
    assert access.may_approve("whoever typed a name")


@pytest.mark.parametrize("claims", [None, {}, {"is_logged_in": False, "email": "lead@example.com"}])
def test_signed_out_with_auth_configured_may_do_nothing(policy, claims) -> None:
    access = resolve_access(auth_configured=True, claims=claims, policy=policy)
    assert access.role is Role.NONE and not access.signed_in and not access.local
    assert not access.can_view


def test_policy_errors_list_every_problem() -> None:
    with pytest.raises(PolicyError) as caught:
        AccessPolicy.from_config(
            {
                "default_role": "approver",
                "groups_claim": "",
                "roles": {
                    "admin": ["x@y.io"],
                    "analyst": ["not-an-email", "group:", 7, "a@b.io"],
                    "viewer": "@nodot",
                },
            }
        )
    issues = caught.value.issues
    assert any("default_role cannot be approver" in i for i in issues)
    assert any("groups_claim" in i for i in issues)
    assert any("unknown role 'admin'" in i for i in issues)
    assert any("'not-an-email' is not an e-mail" in i for i in issues)
    assert any("'group:' names no group" in i for i in issues)
    assert any("7 is not a rule" in i for i in issues)
    assert any("'@nodot'" in i for i in issues)
    assert len(issues) == 7


def test_role_parse_rejects_unknown_names() -> None:
    assert Role.parse(" APPROVER ") is Role.APPROVER
    with pytest.raises(ValueError, match="unknown role 'owner'; use one of none, viewer"):
        Role.parse("owner")
    with pytest.raises(ValueError):
        Role.parse(3)


def _uncommented(text: str, start: str) -> dict:
    """The commented-out TOML from the line ``# <start>`` on, as the reader would uncomment it."""
    lines = text.splitlines()
    first = lines.index(f"# {start}")
    block = []
    for line in lines[first:]:
        if not line.startswith("#"):
            break
        if not line.startswith("# #"):
            block.append(line.removeprefix("#").removeprefix(" "))
    return tomllib.loads("\n".join(block))


def test_the_documented_secrets_example_is_a_valid_configuration() -> None:
    """`.streamlit/secrets.toml.example`, uncommented, is what data.access and st.login read."""
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / ".streamlit/secrets.toml.example").read_text()
    auth = _uncommented(text, "[auth]")["auth"]
    assert auth["redirect_uri"].endswith("/oauth2callback")  # Streamlit's callback route
    assert {"cookie_secret", "client_id", "client_secret", "server_metadata_url"} <= set(auth)
    policy = AccessPolicy.from_config(_uncommented(text, "[looplens]")["looplens"])
    assert policy.role_of(Identity("s", email="someone@example.com")) is Role.VIEWER
    assert policy.role_of(Identity("s", email="ana@example.com")) is Role.ANALYST
    assert policy.role_of(Identity("s", groups=frozenset({"growth-leads"}))) is Role.APPROVER
    assert policy.role_of(Identity("s", email="x@elsewhere.org")) is Role.NONE
