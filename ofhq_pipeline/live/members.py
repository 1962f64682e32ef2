"""Members of the live page: their passwords and, without the Postgres marts, their roles.

Three tables in the landing store's database (OFHQ_LANDING_URL, SQLite under OFHQ_HOME by
default), beside the webhook tables and the blast ledger:

- `live_members`: one row per member who may sign in with a password: the argon2id hash of it
  (never the password) and when it was last set. Passwords always live here, whatever holds the
  roles: the Postgres marts authenticate their own login roles, the live page does not share them.
- `live_member_roles` and `live_member_creators`: the embedded default's roles (agency, cfo,
  employee) and an employee's creators, read only when the Postgres marts are not configured. When
  they are (OFHQ_MARTS_POSTGRES_URL), the roles `ofhq access` grants there are the only ones: one
  list of who sees what, not two that drift apart (`member_access`).

Roles follow the rules of the marts (`warehouse/access.py`): an employee needs creators, creators
go to employees only, and granting adds up; `revoke` takes everything, or only the creators given.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL

from ofhq_pipeline.realtime.landing import (
    create_landing_engine,
    landing_url,
    landing_url_from_env,
    safe_url,
)
from ofhq_pipeline.warehouse.access import ROLES, MemberAccess, list_access
from ofhq_pipeline.warehouse.db import marts_url_from_env

MIN_PASSWORD_LENGTH = 12
# Longer inputs are refused before hashing: argon2 would take them, but nobody types them.
MAX_PASSWORD_LENGTH = 1024
# A member name must be usable as a PostgreSQL role too (63 bytes), so the embedded store's
# members can move to the marts unchanged.
MAX_MEMBER_LENGTH = 63

metadata = sa.MetaData()

live_members = sa.Table(
    "live_members",
    metadata,
    sa.Column("member", sa.Text, primary_key=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

live_member_roles = sa.Table(
    "live_member_roles",
    metadata,
    sa.Column("member", sa.Text, primary_key=True),
    sa.Column("role", sa.Text, primary_key=True),
)

live_member_creators = sa.Table(
    "live_member_creators",
    metadata,
    sa.Column("member", sa.Text, primary_key=True),
    sa.Column("creator_id", sa.Text, primary_key=True),
)


def check_member(member: str) -> None:
    """Refuse a name nobody could type back or that could not be a PostgreSQL role."""
    if (
        not member
        or member != member.strip()
        or len(member) > MAX_MEMBER_LENGTH
        or not member.isprintable()
        or member.startswith("pg_")
    ):
        raise ValueError(f"not a usable member name: {member!r}")


def check_password(member: str, password: str) -> None:
    """The few rules worth enforcing: length, and not the member's own name."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"the password is too short: at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"the password is too long: at most {MAX_PASSWORD_LENGTH} characters")
    if password.strip().casefold() == member.strip().casefold():
        raise ValueError("the password must not be the member's name")


def check_grant(role: str, creators: Iterable[str]) -> tuple[str, ...]:
    """The creators of a grant, sorted, once the marts' rules allow it."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    chosen = tuple(sorted(set(creators)))
    if role == "employee" and not chosen:
        raise ValueError("an employee needs at least one --creator")
    if role != "employee" and chosen:
        raise ValueError(f"--creator applies to employees only: the {role} role sees every creator")
    return chosen


class MemberStore:
    """The member tables at `url` (the landing store's database by default); safe to share
    between threads (one engine, one pool)."""

    def __init__(self, url: str | URL | None = None, *, hasher: PasswordHasher | None = None):
        self.url = landing_url(url or landing_url_from_env())
        self.engine = create_landing_engine(self.url)
        self._dialect = self.engine.dialect.name
        # argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile).
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None
        self._dummy_lock = threading.Lock()
        metadata.create_all(self.engine, checkfirst=True)

    def __repr__(self) -> str:
        return f"MemberStore({safe_url(self.url)!r})"

    def __enter__(self) -> MemberStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()

    def _insert(self, table: sa.Table):
        if self._dialect == "postgresql":
            return postgresql.insert(table)
        if self._dialect == "sqlite":
            return sqlite.insert(table)
        raise NotImplementedError(f"member store on {self._dialect} (use SQLite or PostgreSQL)")

    # ---- passwords -----------------------------------------------------------------------------
    def set_password(self, member: str, password: str) -> None:
        """Store the argon2id hash of a new password (replacing any earlier one)."""
        check_member(member)
        check_password(member, password)
        hashed = self._hasher.hash(password)
        statement = self._insert(live_members).values(
            member=member, password_hash=hashed, updated_at=datetime.now(UTC))
        statement = statement.on_conflict_do_update(
            index_elements=[live_members.c.member],
            set_={"password_hash": statement.excluded.password_hash,
                  "updated_at": statement.excluded.updated_at})
        with self.engine.begin() as conn:
            conn.execute(statement)

    def has_password(self, member: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(live_members.c.member).where(
                live_members.c.member == member)).first() is not None

    def verify(self, member: str, password: str) -> bool:
        """Whether the password is the member's. An unknown member costs one verification too,
        against a hash of nothing anyone knows, so the time taken does not say who exists."""
        dummy = self._dummy()
        with self.engine.connect() as conn:
            stored = conn.execute(sa.select(live_members.c.password_hash).where(
                live_members.c.member == member)).scalar()
        if not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
            password = ""
        try:
            self._hasher.verify(stored or dummy, password)
        except (VerificationError, InvalidHashError):
            return False
        if stored is None:
            return False
        if self._hasher.check_needs_rehash(stored):
            self._rehash(member, stored, password)
        return True

    def _dummy(self) -> str:
        with self._dummy_lock:
            if self._dummy_hash is None:
                self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(32))
            return self._dummy_hash

    def _rehash(self, member: str, old: str, password: str) -> None:
        """Bring a hash made with weaker parameters up to today's, unless it changed since."""
        with self.engine.begin() as conn:
            conn.execute(live_members.update().where(
                live_members.c.member == member, live_members.c.password_hash == old,
            ).values(password_hash=self._hasher.hash(password)))

    # ---- roles (the embedded default) ----------------------------------------------------------
    def grant(self, member: str, role: str, creators: Iterable[str] = ()) -> None:
        """Give MEMBER a role; employees get creators. Additive, like the marts' grant."""
        check_member(member)
        chosen = check_grant(role, creators)
        with self.engine.begin() as conn:
            conn.execute(self._insert(live_member_roles).values(member=member, role=role)
                         .on_conflict_do_nothing())
            for creator_id in chosen:
                conn.execute(self._insert(live_member_creators)
                             .values(member=member, creator_id=creator_id)
                             .on_conflict_do_nothing())

    def revoke(self, member: str, creators: Iterable[str] = ()) -> None:
        """Take every role and creator from MEMBER, or only the creators given. The password
        stays: granting a role again lets the member back in without a new one."""
        check_member(member)
        chosen = sorted(set(creators))
        with self.engine.begin() as conn:
            if chosen:
                conn.execute(live_member_creators.delete().where(
                    live_member_creators.c.member == member,
                    live_member_creators.c.creator_id.in_(chosen)))
                return
            conn.execute(live_member_creators.delete().where(
                live_member_creators.c.member == member))
            conn.execute(live_member_roles.delete().where(live_member_roles.c.member == member))

    def access(self, member: str) -> MemberAccess | None:
        """MEMBER's roles and creators; None when he has neither."""
        found = self._read(member)
        return found[0] if found else None

    def list(self) -> list[MemberAccess]:
        """Every member with a role or an assigned creator, by name."""
        return self._read()

    def _read(self, member: str | None = None) -> list[MemberAccess]:
        roles_query = sa.select(live_member_roles.c.member, live_member_roles.c.role)
        creators_query = sa.select(live_member_creators.c.member, live_member_creators.c.creator_id)
        if member is not None:
            roles_query = roles_query.where(live_member_roles.c.member == member)
            creators_query = creators_query.where(live_member_creators.c.member == member)
        roles: dict[str, set[str]] = {}
        creators: dict[str, set[str]] = {}
        with self.engine.connect() as conn:
            for name, role in conn.execute(roles_query):
                roles.setdefault(name, set()).add(role)
            for name, creator_id in conn.execute(creators_query):
                creators.setdefault(name, set()).add(creator_id)
        return [
            MemberAccess(
                name,
                tuple(role for role in ROLES if role in roles.get(name, set())),
                tuple(sorted(creators.get(name, set()))),
            )
            for name in sorted(set(roles) | set(creators))
        ]


@lru_cache(maxsize=8)
def _store_at(url: str) -> MemberStore:
    """One store per database for the process: roles are read on every request."""
    return MemberStore(url)


def default_store() -> MemberStore:
    """The member store of the landing store's database named by the environment."""
    return _store_at(landing_url_from_env())


def member_access(member: str, *, store: MemberStore | None = None) -> MemberAccess | None:
    """Where a member's roles come from, the one place that says it: the roles `ofhq access`
    manages in the Postgres marts when they are configured (OFHQ_MARTS_POSTGRES_URL), else the
    embedded member store (`store`, or the landing store's database). None: no such member."""
    url = marts_url_from_env()
    if url:
        return next((row for row in list_access(url) if row.member == member), None)
    return (store or default_store()).access(member)
