"""Who may do what in LoopLens: roles from the signed-in identity (pure; no Streamlit).

Three roles, each including the one before it:

- ``viewer``: sees every page and the decision log;
- ``analyst``: also records decisions on experiments;
- ``approver``: also approves the current decision on an experiment (not one they recorded).

With sign-in configured (``[auth]`` in ``.streamlit/secrets.toml``; see docs/security.md) the role
comes from the identity provider's ID token, mapped by ``[looplens.roles]`` in the same file::

    [looplens]
    default_role = "none"        # a signed-in identity that no rule matches: none|viewer|analyst
    groups_claim = "groups"      # the ID-token claim that lists the identity's groups

    [looplens.roles]
    viewer = ["@example.com"]                    # everyone whose verified e-mail is at example.com
    analyst = ["ana@example.com", "group:growth"]
    approver = ["lead@example.com"]

A rule is an e-mail address (``ana@example.com``), a domain (``@example.com``) or a group
(``group:growth``, a value of the groups claim); matching ignores case. E-mail rules only match an
address the provider marks verified (an ``email_verified`` claim that is not false). An identity
gets the highest role any rule gives it, else ``default_role`` (``none`` unless set: someone the
provider knows but the team has not listed sees nothing).

Without ``[auth]`` LoopLens runs in **local mode**: nobody signs in, everyone may do everything,
and decisions carry the free-text name typed into the form, marked unverified.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

__all__ = [
    "Access",
    "AccessDenied",
    "AccessPolicy",
    "Identity",
    "PolicyError",
    "Role",
    "local_access",
    "resolve_access",
]


class Role(IntEnum):
    """A role; a higher value includes every permission of the lower ones."""

    NONE = 0
    VIEWER = 1
    ANALYST = 2
    APPROVER = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: object) -> Role:
        """A role from its name (``"viewer"``, ``"Analyst"``...); ``ValueError`` if unknown."""
        if isinstance(value, str):
            try:
                return cls[value.strip().upper()]
            except KeyError:
                pass
        names = ", ".join(role.label for role in cls)
        raise ValueError(f"unknown role {value!r}; use one of {names}")


class PolicyError(ValueError):
    """The `[looplens]` access settings in the secrets file are malformed; see ``issues``."""

    def __init__(self, issues: list[str]) -> None:
        super().__init__("Invalid access configuration: " + "; ".join(issues))
        self.issues = tuple(issues)


class AccessDenied(PermissionError):
    """The current identity's role does not allow the action; the message says which role would."""


@dataclass(frozen=True)
class Identity:
    """What the identity provider says about the signed-in person (from the ID token).

    ``email`` is lower-cased; ``email_verified`` is False only when the provider says so.
    """

    subject: str
    email: str | None = None
    name: str | None = None
    email_verified: bool = True
    groups: frozenset[str] = frozenset()

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any], *, groups_claim: str = "groups") -> Identity:
        """An identity from ID-token claims (``st.user``): sub, email, email_verified, name, groups.

        The groups claim may be a list or a single text value; anything else counts as no group.
        """
        email = claims.get("email")
        email = email.strip().lower() if isinstance(email, str) and email.strip() else None
        raw_groups = claims.get(groups_claim)
        if isinstance(raw_groups, str):
            raw_groups = [raw_groups]
        if not isinstance(raw_groups, list | tuple):
            raw_groups = []
        groups = frozenset(
            g.strip().lower() for g in raw_groups if isinstance(g, str) and g.strip()
        )
        name = claims.get("name")
        return cls(
            subject=str(claims.get("sub") or ""),
            email=email,
            name=name.strip() if isinstance(name, str) and name.strip() else None,
            email_verified=claims.get("email_verified") is not False,
            groups=groups,
        )

    @property
    def display(self) -> str:
        """How the identity is recorded in the decision log: the e-mail, else ``sub:<subject>``."""
        return self.email or f"sub:{self.subject}"


@dataclass(frozen=True)
class AccessPolicy:
    """Rules mapping identities to roles (see the module docstring for the format)."""

    rules: Mapping[Role, tuple[str, ...]] = field(default_factory=dict)
    default_role: Role = Role.NONE
    groups_claim: str = "groups"

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> AccessPolicy:
        """The policy in a ``[looplens]`` secrets section (``None`` or empty: nobody listed).

        Raises :class:`PolicyError` listing every problem (unknown role, a rule that is neither
        an e-mail, ``@domain`` nor ``group:name``, a default role above analyst).
        """
        section = section or {}
        issues: list[str] = []
        default = Role.NONE
        if "default_role" in section:
            try:
                default = Role.parse(section["default_role"])
            except ValueError as exc:
                issues.append(f"default_role: {exc}")
            if default > Role.ANALYST:
                issues.append("default_role cannot be approver: list approvers by name")
                default = Role.NONE
        groups_claim = section.get("groups_claim", "groups")
        if not isinstance(groups_claim, str) or not groups_claim.strip():
            issues.append(f"groups_claim must be a claim name, got {groups_claim!r}")
            groups_claim = "groups"
        rules: dict[Role, tuple[str, ...]] = {}
        roles = section.get("roles", {})
        if not isinstance(roles, Mapping):
            issues.append("[looplens.roles] must be a table of role = [rules]")
            roles = {}
        for key, entries in roles.items():
            try:
                role = Role.parse(key)
            except ValueError as exc:
                issues.append(f"[looplens.roles] {exc}")
                continue
            if role is Role.NONE:
                issues.append("[looplens.roles] none: leave people out instead of listing them")
                continue
            if isinstance(entries, str):
                entries = [entries]
            if not isinstance(entries, list | tuple):
                issues.append(f"[looplens.roles] {role.label} must be a list of rules")
                continue
            rules[role] = tuple(_rule(issues, role, entry) for entry in entries)
        if issues:
            raise PolicyError(issues)
        return cls(rules=rules, default_role=default, groups_claim=groups_claim.strip())

    def role_of(self, identity: Identity) -> Role:
        """The highest role any rule gives ``identity``, else the default role."""
        for role in sorted(self.rules, reverse=True):
            if any(_matches(rule, identity) for rule in self.rules[role]):
                return role
        return self.default_role


def _rule(issues: list[str], role: Role, entry: object) -> str:
    if not isinstance(entry, str) or not entry.strip():
        issues.append(f"[looplens.roles] {role.label}: {entry!r} is not a rule")
        return ""
    rule = entry.strip().lower()
    if rule.startswith("group:"):
        if not rule[len("group:") :].strip():
            issues.append(f"[looplens.roles] {role.label}: {entry!r} names no group")
        return "group:" + rule[len("group:") :].strip()
    local, at, domain = rule.partition("@")
    if not at or not domain or "@" in domain or "." not in domain or " " in rule:
        issues.append(
            f"[looplens.roles] {role.label}: {entry!r} is not an e-mail address, "
            "@domain or group:name"
        )
    return rule


def _matches(rule: str, identity: Identity) -> bool:
    if rule.startswith("group:"):
        return rule[len("group:") :] in identity.groups
    if identity.email is None or not identity.email_verified:
        return False
    if rule.startswith("@"):
        return identity.email.endswith(rule)
    return identity.email == rule


@dataclass(frozen=True)
class Access:
    """What the person using this session may do.

    ``local`` is True in local mode (no sign-in configured): then ``role`` is approver,
    ``identity`` is None and the person's name is whatever they type. With sign-in configured,
    ``identity`` is None until someone signs in (role none).
    """

    role: Role
    identity: Identity | None = None
    local: bool = False

    @property
    def signed_in(self) -> bool:
        return self.identity is not None

    @property
    def can_view(self) -> bool:
        return self.role >= Role.VIEWER

    @property
    def can_record(self) -> bool:
        return self.role >= Role.ANALYST

    @property
    def can_approve(self) -> bool:
        return self.role >= Role.APPROVER

    @property
    def who(self) -> str | None:
        """The verified name for the decision log (the e-mail), or None in local mode."""
        return self.identity.display if self.identity is not None else None

    def require(self, needed: Role, action: str) -> None:
        """Raise :class:`AccessDenied` unless the role is at least ``needed``."""
        if self.role < needed:
            who = f"{self.who} is signed in as" if self.who else "You have the role"
            raise AccessDenied(
                f"{who} {self.role.label}; {action} needs the {needed.label} role. "
                "Ask whoever administers LoopLens to add you to [looplens.roles]."
            )

    def may_approve(self, decided_by: str) -> bool:
        """An approver may approve a decision unless their own verified identity recorded it."""
        if not self.can_approve:
            return False
        who = self.who
        return who is None or who.lower() != decided_by.strip().lower()


def local_access() -> Access:
    """Local mode: nobody signs in and every action is allowed (decisions are unauthenticated)."""
    return Access(role=Role.APPROVER, local=True)


def resolve_access(
    *, auth_configured: bool, claims: Mapping[str, Any] | None, policy: AccessPolicy
) -> Access:
    """The access of a session: local mode without ``[auth]``, else from the ID-token claims.

    ``claims`` is None (or lacks ``is_logged_in``) when nobody is signed in: role none.
    """
    if not auth_configured:
        return local_access()
    if not claims or not claims.get("is_logged_in"):
        return Access(role=Role.NONE)
    identity = Identity.from_claims(claims, groups_claim=policy.groups_claim)
    return Access(role=policy.role_of(identity), identity=identity)
