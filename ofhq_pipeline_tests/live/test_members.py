"""The live page's members on SQLite and PostgreSQL: passwords kept as argon2id hashes only,
weak ones refused, unknown members verified at the same cost, roles granted by the marts' rules,
and one function saying where roles come from. The `ofhq access` commands drive the embedded
store when the Postgres marts are not configured."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from click.testing import CliRunner

from ofhq_pipeline.live.members import MemberStore, live_members, member_access
from ofhq_pipeline.warehouse import access as acl
from ofhq_pipeline.warehouse.access import MemberAccess
from ofhq_pipeline.warehouse.commands import access

PASSWORD = "violet-harbour-2291-lantern"
# Cheap parameters keep the suite fast; the default hasher is checked where it matters.
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


class CountingHasher(PasswordHasher):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified: list[str] = []

    def verify(self, hash, password):  # noqa: A002 - argon2's own parameter name
        self.verified.append(hash)
        return super().verify(hash, password)


@pytest.fixture
def store(landing_url):
    with MemberStore(landing_url, hasher=CHEAP) as opened:
        yield opened


def stored_hash(store: MemberStore, member: str) -> str | None:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(live_members.c.password_hash)
                            .where(live_members.c.member == member)).scalar()


def test_a_password_is_kept_as_an_argon2id_hash_only(landing_url, tmp_path):
    with MemberStore(landing_url) as store:  # argon2-cffi's default parameters
        store.set_password("ana", PASSWORD)
        hashed = stored_hash(store, "ana")
        assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        assert store.verify("ana", PASSWORD) is True
        assert store.verify("ana", PASSWORD.upper()) is False
        assert store.verify("Ana", PASSWORD) is False  # member names are exact
        with store.engine.connect() as conn:
            every_value = " ".join(str(v) for row in conn.execute(sa.select(live_members))
                                   for v in row)
    assert "ana" in every_value and PASSWORD not in every_value
    if landing_url.startswith("sqlite"):
        files = list((tmp_path / "landing").iterdir())  # the database, its WAL and its index
        assert files and all(PASSWORD.encode() not in f.read_bytes() for f in files)


def test_weak_passwords_are_refused_with_the_reason(store):
    with pytest.raises(ValueError, match="too short: at least 12"):
        store.set_password("ana", "short-pw-11")
    with pytest.raises(ValueError, match="must not be the member's name"):
        store.set_password("annabelle.rossi", "  Annabelle.Rossi ")
    with pytest.raises(ValueError, match="not a usable member name"):
        store.set_password(" ana", PASSWORD)
    assert stored_hash(store, "ana") is None and stored_hash(store, "annabelle.rossi") is None
    store.set_password("ana", "exactly-12ch")
    assert store.verify("ana", "exactly-12ch")


def test_a_new_password_replaces_the_old_one(store):
    store.set_password("ana", PASSWORD)
    store.set_password("ana", PASSWORD + "-next")
    assert not store.verify("ana", PASSWORD)
    assert store.verify("ana", PASSWORD + "-next")


def test_an_unknown_member_costs_one_verification_like_a_known_one(sqlite_url):
    hasher = CountingHasher()
    with MemberStore(sqlite_url, hasher=hasher) as store:
        store.set_password("ana", PASSWORD)
        assert store.verify("nobody", PASSWORD) is False
        assert store.verify("", PASSWORD) is False
        assert store.verify("ana", "not-her-password") is False
        assert len(hasher.verified) == 3
        dummy = hasher.verified[0]
        assert dummy.startswith("$argon2id$") and dummy != stored_hash(store, "ana")
        assert hasher.verified == [dummy, dummy, stored_hash(store, "ana")]


def test_a_hash_made_with_weaker_parameters_is_upgraded_on_sign_in(sqlite_url):
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    with MemberStore(sqlite_url, hasher=CHEAP) as store:
        store.set_password("ana", PASSWORD)
        weak = stored_hash(store, "ana")
    with MemberStore(sqlite_url, hasher=stronger) as store:
        assert store.verify("ana", "not-her-password") is False
        assert stored_hash(store, "ana") == weak  # a failure changes nothing
        assert store.verify("ana", PASSWORD) is True
        upgraded = stored_hash(store, "ana")
        assert upgraded != weak and "$m=2048,t=2,p=1$" in upgraded
        assert not stronger.check_needs_rehash(upgraded)
        assert store.verify("ana", PASSWORD) is True


def test_roles_follow_the_marts_rules_and_add_up(store):
    with pytest.raises(ValueError, match="at least one --creator"):
        store.grant("carla", "employee")
    with pytest.raises(ValueError, match="employees only"):
        store.grant("carla", "cfo", ["acct_1"])
    with pytest.raises(ValueError, match="unknown role 'owner'"):
        store.grant("carla", "owner")
    assert store.list() == []

    store.grant("carla", "employee", ["acct_2"])
    store.grant("carla", "employee", ["acct_1", "acct_2"])
    store.grant("carla", "cfo")
    store.grant("ben", "agency")
    assert store.list() == [
        MemberAccess("ben", ("agency",), ()),
        MemberAccess("carla", ("cfo", "employee"), ("acct_1", "acct_2")),
    ]
    store.revoke("carla", ["acct_1"])
    assert store.access("carla") == MemberAccess("carla", ("cfo", "employee"), ("acct_2",))
    store.set_password("carla", PASSWORD)
    store.revoke("carla")
    assert store.access("carla") is None
    assert store.has_password("carla")  # granting again lets her back in
    assert [m.member for m in store.list()] == ["ben"]


def test_without_the_marts_roles_come_from_the_embedded_store():
    with MemberStore(hasher=CHEAP) as store:  # the landing store's database under OFHQ_HOME
        store.grant("ben", "agency")
    assert member_access("ben") == MemberAccess("ben", ("agency",), ())
    assert member_access("nobody") is None


@pytest.mark.postgres
def test_with_the_marts_roles_come_from_postgres_only(pg_url, role_prefix, monkeypatch, sqlite_url):
    ana, bob = f"{role_prefix}_ana", f"{role_prefix}_bob"
    acl.grant(pg_url, ana, "employee", ["acct_9"], role_prefix=role_prefix)
    with MemberStore(sqlite_url, hasher=CHEAP) as store:
        store.grant(ana, "agency")  # the embedded roles are not read once the marts exist
        store.grant(bob, "agency")
        monkeypatch.setenv("OFHQ_MARTS_ROLE_PREFIX", role_prefix)
        assert member_access(ana, store=store) == MemberAccess(ana, ("agency",), ())
        monkeypatch.setenv("OFHQ_MARTS_POSTGRES_URL", pg_url)
        assert member_access(ana, store=store) == MemberAccess(ana, ("employee",), ("acct_9",))
        assert member_access(bob, store=store) is None
        acl.revoke(pg_url, ana, role_prefix=role_prefix)
        assert member_access(ana, store=store) is None


# ---- `ofhq access` on the embedded store ---------------------------------------------------------


def landing_files(home: Path) -> list[Path]:
    return [path for path in home.iterdir() if path.name.startswith("landing.db")]


def test_access_commands_manage_the_embedded_store():
    runner = CliRunner()
    result = runner.invoke(access, ["grant", "carla", "--role", "employee", "--creator", "acct_1"])
    assert result.exit_code == 0, result.output
    assert "granted employee for acct_1 to carla in the embedded member store" in result.output
    result = runner.invoke(access, ["grant", "ben", "--role", "employee"])
    assert result.exit_code == 2 and "at least one --creator" in result.output
    result = runner.invoke(access, ["grant", "ben", "--role", "cfo"])
    assert result.exit_code == 0, result.output

    result = runner.invoke(access, ["list"])
    assert result.exit_code == 0, result.output
    assert "the embedded member store" in result.output
    assert "ben\troles=cfo\tcreators=-" in result.output
    assert "carla\troles=employee\tcreators=acct_1" in result.output
    assert member_access("carla") == MemberAccess("carla", ("employee",), ("acct_1",))

    result = runner.invoke(access, ["revoke", "carla"])
    assert result.exit_code == 0 and "in the embedded member store" in result.output
    assert member_access("carla") is None
    assert "carla" not in runner.invoke(access, ["list"]).output


def test_password_command_reads_stdin_or_a_confirmed_prompt(tmp_path):
    runner = CliRunner()
    runner.invoke(access, ["grant", "ana", "--role", "agency"])
    result = runner.invoke(access, ["password", "ana", "--stdin"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "password set for ana" in result.output and "no role" not in result.output
    assert PASSWORD not in result.output
    with MemberStore() as store:
        assert store.verify("ana", PASSWORD)

    result = runner.invoke(access, ["password", "bob"], input=f"{PASSWORD}2\n{PASSWORD}2\n")
    assert result.exit_code == 0, result.output
    assert "bob has no role yet" in result.output and f"{PASSWORD}2" not in result.output
    with MemberStore() as store:
        assert store.verify("bob", f"{PASSWORD}2")

    result = runner.invoke(access, ["password", "ana", "--stdin"], input="short\n")
    assert result.exit_code == 2 and "too short" in result.output
    result = runner.invoke(access, ["password", "ana", PASSWORD])
    assert result.exit_code == 2  # never from an argument
    with MemberStore() as store:
        assert store.verify("ana", PASSWORD)
    files = landing_files(tmp_path / "ofhq")
    assert files and all(PASSWORD.encode() not in f.read_bytes() for f in files)
