"""Proof against misdirection (issue 6, item 5): programming errors injected through the real code paths.

Each test breaks planning or rendering the way a real bug would (a list not reset in a loop, an
off-by-one join, a stale roster cache, a template rendered with the previous letter's data, ids
normalized on lookup, extra recipient headers, a stale outbox row) and runs the real `daily`/`send`
against a real SMTP sink on both databases. After the run the sink is scanned and every stored
message is judged independently of the product: its envelope recipients against the addresses the
sample roster's known facts allow for the subject its link discloses (`*_ALLOWED` below, written by
hand from shared/samples/oneroster-1.1, not computed by the product).

Modes, for the planning faults:
- `guarded`: both guard layers on. The whole-run check stops the run (exit 3), the sink gets nothing,
  the reported violations are exactly the misdirected outbox rows and every planned row is blocked.
- `send-guard`: the whole-run check disabled (tests only), the per-message guard alone: exactly the
  misdirected rows end `blocked` ("blocked by the guard N"), everything else is sent, nothing
  misdirected reaches the sink.
- `unguarded`: both layers disabled (tests only): the misdirected messages reach the sink, and
  `breach-scope --json` lists exactly them (by Message-ID), no more, no fewer.
Rendering faults and the stale outbox row have only the per-message layer to pass (their plan is
right when it is checked), so they run `guarded` and `unguarded`.

The unguarded runs disable the guard the only way there is (tests only): `daily.check_run` replaced,
and a `NoGuard` in the sender that passes everything while reading back, like the real guard, whom
each message discloses (its link token) and its To, so the ledger records what really went out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

import pytest
from sqlalchemy import select, text

from schoolpass.notices import daily, planning, sender
from schoolpass.notices.content import display_name, render as real_render
from schoolpass.notices.daily import run_daily
from schoolpass.notices.guard import Guard, Verdict, read_back
from schoolpass.notices.models import LinkToken
from schoolpass.notices.sender import Sender
from schoolpass.notices.sink import parse, split_envelope
from schoolpass.notices.smtp import Mailer, parse_smtp_url
from schoolpass.notices.tokens import find_tokens, token_hash
from schoolpass.policy.store import policy_in_force
from schoolpass.roster.authorization import notice_addresses
from schoolpass.settings import load_settings
from tests.cli import run
from tests.notices import district
from tests.notices.district import correct_custody, load_results
from tests.notices.sink import running_sink
from tests.roster.exports import read_sample, write_export

ON = "2021-11-22"
DAY = date(2021, 11, 22)
EVERYONE = ["s-1", "s-2", "s-3", "s-4", "t-1"]

# Who may hear about whom on 2021-11-22, from the sample roster's facts (CONTRACT section 4):
# s-1 (9): p-1 only (p-2 is marked deny); s-2 (10): p-1; s-3 turned 18 on 2021-06-30: herself only,
# not her parent p-3; s-4 (15): p-4 only (p-5 is a relative); t-1 is staff: herself.
ALLOWED = {
    "s-1": {"ana.garcia@example.net"},
    "s-2": {"ana.garcia@example.net"},
    "s-3": {"tnguyen@students.example.org"},
    "s-4": {"grace.okafor@example.net"},
    "t-1": {"kwhite@staff.example.org"},
}
# After the backdated custody correction (`_correct_custody`): p-1 was never s-1's; p-6 is her guardian.
CORRECTED_ALLOWED = {**ALLOWED, "s-1": {"rosa.vega@example.net"}}

# Four more students whose ids differ only by leading zeros or letter case, each with their own parent.
# (roster id, lab patient id, given, family, parent id, parent's address)
LOOKALIKES = [
    ("s-007", "910007", "Ada", "Zeller", "p-71", "olga.zeller@example.net"),
    ("s-7", "910070", "Ben", "Sato", "p-72", "peter.sato@example.net"),
    ("S-8", "910008", "Cleo", "Ueda", "p-81", "mina.ueda@example.net"),
    ("s-8", "910080", "Dan", "Lowe", "p-82", "hugo.lowe@example.net"),
]
LOOKALIKES_ALLOWED = {**ALLOWED, **{sid: {address} for sid, _, _, _, _, address in LOOKALIKES}}

NAMES = {"s-1": ("María", "García"), "s-2": ("Luis", "García"), "s-3": ("Thao", "Nguyen"),
         "s-4": ("Jide", "Okafor"), "t-1": ("Karen", "White"),
         **{sid: (given, family) for sid, _, given, family, _, _ in LOOKALIKES}}

GUARDED, SEND_GUARD, UNGUARDED = "guarded", "send-guard", "unguarded"


# -- the district -----------------------------------------------------------------------------------------

def _district(db, tmp_path, monkeypatch, lookalikes: bool = False) -> None:
    """The sample roster (with the look-alike students when asked), a negative result for everyone on 11/20."""
    people = list(EVERYONE)
    if not lookalikes:
        district.load_roster(db.engine)
    else:
        users, demographics = read_sample("users.csv"), read_sample("demographics.csv")
        student = next(u for u in users if u["sourcedId"] == "s-2")
        parent = next(u for u in users if u["sourcedId"] == "p-1")
        birth = next(d for d in demographics if d["sourcedId"] == "s-2")
        for sid, lab_id, given, family, parent_id, address in LOOKALIKES:
            users.append({**student, "sourcedId": sid, "identifier": lab_id, "username": given.lower(),
                          "givenName": given, "familyName": family, "agentSourcedIds": parent_id})
            users.append({**parent, "sourcedId": parent_id, "givenName": f"Parent of {given}", "familyName": family,
                          "email": address, "agentSourcedIds": sid, "metadata.language": ""})
            demographics.append({**birth, "sourcedId": sid, "birthDate": "2012-05-05"})
            monkeypatch.setitem(district.PEOPLE, sid, (lab_id, given, family, "05/05/2012"))
            people.append(sid)
        district.load_roster(db.engine, path=write_export(tmp_path / "roster-lookalikes", users=users,
                                                          demographics=demographics))
    load_results(db.engine, tmp_path, [(who, "Not Detected", "11/20/2021") for who in people])


def _correct_custody(db, tmp_path) -> None:
    """The SIS corrects s-1's record, backdated to Nov 1: p-1 was never hers; a new guardian p-6 is."""
    correct_custody(db.engine, tmp_path)


# -- disabling the guard (tests only) ---------------------------------------------------------------------

class NoGuard(Guard):
    """Passes every message, reading back what each really discloses, as the real send path does.

    `disclosed_subject`: the subject of the message's link token (`link_tokens.subject_id` by hash);
    `to`: the (first) To address read back from the bytes. So the ledger records whom each message
    disclosed and where it said it went, exactly as in production.
    """

    def check(self, conn, batch):
        verdicts = []
        for item in batch:
            back = read_back(item.raw)
            subjects = {conn.execute(select(LinkToken.subject_id).where(LinkToken.token_hash == token_hash(t)))
                        .scalar_one_or_none() for t in back.tokens}
            disclosed = next(iter(subjects)) if len(subjects) == 1 else None
            verdicts.append(Verdict(True, None, disclosed, back.to[0] if back.to else None))
        return verdicts


def _without_run_check(monkeypatch) -> None:
    monkeypatch.setattr(daily, "check_run", lambda *args, **kwargs: [])


def _settings(db, sink):
    return load_settings(database_url=db.url, smtp_url=sink.url)


def _daily_unguarded(db, sink, monkeypatch):
    """`daily` with both guard layers off: no whole-run check, a NoGuard in the sender."""
    _without_run_check(monkeypatch)
    with db.engine.connect() as conn:
        policy = policy_in_force(conn)
    report = run_daily(db.engine, _settings(db, sink), DAY, policy, mailer=Mailer(parse_smtp_url(sink.url)),
                       sender_factory=lambda *a, **kw: Sender(*a, guard=NoGuard(), **kw))
    assert not report.stopped and report.send is not None
    assert report.send.blocked == 0 and report.send.waiting == 0
    return report


def _daily(db, capsys, sink):
    return run(capsys, "--db", db.url, "daily", "--on", ON, "--smtp", sink.url)


# -- reading the sink, independently of the product -----------------------------------------------------

@dataclass(frozen=True)
class Stored:
    message_id: str
    envelope: tuple[str, ...]  # where the message really went (RCPT TO)
    to: tuple[str, ...]  # what its To header says
    other_headers: tuple[str, ...]  # Cc/Bcc/Resent-* present
    named: str | None  # the subject its subject line names (by given name + family initial)
    disclosed: str | None  # the subject its link token discloses
    raw: bytes


def _named(subject_line: str) -> str | None:
    found = [sid for sid, (given, family) in NAMES.items() if display_name(given, family) in subject_line]
    return found[0] if len(found) == 1 else None


def _scan(db, sink) -> list[Stored]:
    found = []
    with db.engine.connect() as conn:
        for stored in sink.raw_messages():
            envelope, raw = split_envelope(stored)
            back = read_back(raw)
            subjects = {conn.execute(select(LinkToken.subject_id).where(LinkToken.token_hash == token_hash(t)))
                        .scalar_one_or_none() for t in find_tokens(raw)}
            assert len(subjects) == 1, "every message carries exactly one issued link token"
            found.append(Stored(str(parse(stored)["Message-ID"]), tuple(envelope), back.to, back.other_recipients,
                                _named(back.subject), next(iter(subjects)), raw))
    return found


def _misdirected(stored: list[Stored], allowed: dict[str, set[str]]) -> dict[str, tuple[str, str]]:
    """Message-ID -> (subject, address) of every message that reached an address not allowed for its link's subject."""
    wrong = {}
    for s in stored:
        for address in s.envelope:
            if address.lower() not in allowed.get(s.disclosed, set()):
                wrong[s.message_id] = (s.disclosed, address.lower())
    return wrong


def _assert_nothing_misdirected(stored: list[Stored], allowed: dict[str, set[str]]) -> None:
    assert _misdirected(stored, allowed) == {}
    for s in stored:  # and nothing in any header names anyone else either
        assert len(s.envelope) == 1 and s.to == s.envelope and not s.other_headers, s.message_id
        assert s.named == s.disclosed, s.message_id


def _breach_scope(db, capsys) -> dict:
    result = run(capsys, "--db", db.url, "breach-scope", "--from", ON, "--to", ON, "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def _assert_scope_is_exactly(db, capsys, stored: list[Stored], allowed: dict[str, set[str]], misdirected: int) -> None:
    """breach-scope lists exactly the messages the sink received at unauthorized addresses: no more, no fewer."""
    wrong = _misdirected(stored, allowed)
    assert len(wrong) == misdirected, wrong  # the fault really misdirected this many (the test is not vacuous)
    scope = _breach_scope(db, capsys)
    assert scope["examined"] == len(stored)  # one ledger entry per message the sink got
    listed = {e["message_id"]: (e["subject_id"], e["address"].lower()) for e in scope["unauthorized"]}
    assert listed == wrong
    assert len(scope["unauthorized"]) == len(listed)  # no message listed twice
    assert scope["affected_subjects"] == sorted({subject for subject, _ in wrong.values()})
    assert scope["wrong_recipients"] == sorted({address for _, address in wrong.values()})


# -- the outbox ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    id: int
    subject_id: str
    address_key: str | None
    state: str
    message_id: str
    reason: str | None


def _outbox(db) -> list[Row]:
    with db.engine.connect() as conn:
        return [Row(*r) for r in conn.exec_driver_sql(
            "SELECT id, subject_id, address_key, state, message_id, reason FROM outbox ORDER BY id")]


def _wrong_rows(rows: list[Row], allowed: dict[str, set[str]]) -> set[int]:
    """Outbox rows planned to an address not allowed for their subject (by the test's own facts)."""
    return {r.id for r in rows if r.address_key is not None and r.address_key not in allowed.get(r.subject_id, set())}


def _assert_stopped_by_run_check(result, db, sink, allowed, misdirected: int) -> None:
    """Exit 3, nothing sent, the violations are exactly the misdirected rows, and every planned row is blocked."""
    assert result.code == 3, result.out + result.err
    assert sink.raw_messages() == []
    rows = _outbox(db)
    wrong = _wrong_rows(rows, allowed)
    assert len(wrong) == misdirected
    assert f"found {misdirected} violation(s)" in result.err
    reported = {int(n) for n in re.findall(r"whole-run check: outbox row (\d+): address not authorized", result.err)}
    assert reported == wrong
    assert {r.state for r in rows if r.address_key is not None} == {"blocked"}
    for address in (r.address_key for r in rows if r.id in wrong):  # ids only, never the address itself
        assert address not in result.err


def _assert_blocked_at_send(result, db, stored, allowed, blocked: set[int]) -> None:
    """Exit 0, 'blocked by the guard N', exactly `blocked` rows blocked, the rest sent, nothing misdirected."""
    assert result.code == 0, result.out + result.err
    assert f"blocked by the guard {len(blocked)}" in result.out
    rows = _outbox(db)
    assert {r.id for r in rows if r.state == "blocked"} == blocked
    assert all(r.reason.startswith("guard: ") for r in rows if r.state == "blocked")
    sent = {r.message_id for r in rows if r.state == "sent"}
    assert {s.message_id for s in stored} == sent and len(stored) == len(sent)
    assert {r.state for r in rows} <= {"sent", "blocked", "undeliverable", "held"}
    _assert_nothing_misdirected(stored, allowed)


# -- planning faults -----------------------------------------------------------------------------------------

def _accumulating_list(monkeypatch) -> None:
    """1. The list of addressees is not reset between subjects: each carries every earlier subject's too."""
    real = planning.notice_addresses

    def accumulating(conn, on, subject_ids=None, known_after=None):
        found = real(conn, on, subject_ids, known_after)
        planned, carried = {}, []  # BUG: `carried` belongs inside the loop
        for subject in sorted(found):
            for a in found[subject]:
                if all(a.address_key != c.address_key for c in carried):
                    carried.append(a)
            planned[subject] = list(carried)
        return planned

    monkeypatch.setattr(planning, "notice_addresses", accumulating)


def _off_by_one_join(monkeypatch) -> None:
    """2. Subjects zipped with the address lists one position off: each gets the previous subject's list."""
    real = planning.notice_addresses

    def shifted(conn, on, subject_ids=None, known_after=None):
        found = real(conn, on, subject_ids, known_after)
        subjects = sorted(found)
        return dict(zip(subjects[1:], (found[s] for s in subjects)))  # BUG: zip(subjects, ...)

    monkeypatch.setattr(planning, "notice_addresses", shifted)


def _normalizing_lookup(monkeypatch) -> None:
    """5. Addresses looked up by a 'normalized' id (lower case, no leading zeros): look-alike ids collide."""
    real = planning.notice_addresses

    def canonical(sid: str) -> str:
        prefix, _, number = sid.lower().rpartition("-")
        return f"{prefix}-{number.lstrip('0') or '0'}"

    def normalizing(conn, on, subject_ids=None, known_after=None):
        found = real(conn, on, subject_ids, known_after)
        by_key = {canonical(s): found[s] for s in sorted(found)}  # BUG: the later of two look-alikes wins
        return {s: by_key[canonical(s)] for s in found}

    monkeypatch.setattr(planning, "notice_addresses", normalizing)


PLANNING_FAULTS = {
    # fault: (injector, misdirected messages it causes on the sample day)
    # s-3 +ana; s-4 +ana +tnguyen; t-1 +ana +tnguyen +grace
    "accumulating-list": (_accumulating_list, 6),
    # s-1 -> nobody (undeliverable); s-2 -> ana (s-1's: happens to be right); s-3 -> ana; s-4 -> tnguyen; t-1 -> grace
    "off-by-one-join": (_off_by_one_join, 3),
}


def _run_planning_fault(mode, db, capsys, monkeypatch, sink):
    if mode == GUARDED:
        return _daily(db, capsys, sink)
    if mode == SEND_GUARD:
        _without_run_check(monkeypatch)
        return _daily(db, capsys, sink)
    return _daily_unguarded(db, sink, monkeypatch)


def _check_planning_fault(mode, result, db, capsys, sink, allowed, misdirected: int) -> None:
    if mode == GUARDED:
        _assert_stopped_by_run_check(result, db, sink, allowed, misdirected)
        return
    stored = _scan(db, sink)
    if mode == SEND_GUARD:
        wrong = _wrong_rows(_outbox(db), allowed)
        assert len(wrong) == misdirected
        _assert_blocked_at_send(result, db, stored, allowed, wrong)
    else:
        _assert_scope_is_exactly(db, capsys, stored, allowed, misdirected)


@pytest.mark.parametrize("mode", [GUARDED, SEND_GUARD, UNGUARDED])
@pytest.mark.parametrize("fault", sorted(PLANNING_FAULTS))
def test_a_planning_bug_misdirects_nothing_and_breach_scope_finds_exactly_its_messages(
        fault, mode, db, tmp_path, capsys, monkeypatch):
    """Faults 1 (a recipient list not reset between subjects) and 2 (an off-by-one join of subjects and contacts)."""
    inject, misdirected = PLANNING_FAULTS[fault]
    _district(db, tmp_path, monkeypatch)
    inject(monkeypatch)
    with running_sink(tmp_path) as sink:
        result = _run_planning_fault(mode, db, capsys, monkeypatch, sink)
        _check_planning_fault(mode, result, db, capsys, sink, ALLOWED, misdirected)


@pytest.mark.parametrize("mode", [GUARDED, SEND_GUARD, UNGUARDED])
def test_a_roster_cached_before_a_custody_change_misdirects_nothing(mode, db, tmp_path, capsys, monkeypatch):
    """Fault 3: a per-day roster cache, warmed by a dry run, is used after a backdated custody correction.

    The stale mapping still sends s-1's notice to p-1 (Ana), who the corrected roster says was never
    María's; her new guardian p-6 is not in the cached mapping at all (a missed notice, not a misdirected one).
    """
    _district(db, tmp_path, monkeypatch)
    real = planning.notice_addresses
    cache: dict = {}

    def cached(conn, on, subject_ids=None, known_after=None):
        if (on, known_after) not in cache:  # BUG: nothing invalidates the cache when a roster is imported
            cache[(on, known_after)] = real(conn, on, None, known_after)
        wanted = None if subject_ids is None else set(subject_ids)
        return {s: a for s, a in cache[(on, known_after)].items() if wanted is None or s in wanted}

    monkeypatch.setattr(planning, "notice_addresses", cached)
    warm = run(capsys, "--db", db.url, "daily", "--on", ON, "--dry-run")
    assert warm.code == 0 and cache, warm.err
    _correct_custody(db, tmp_path)
    with running_sink(tmp_path) as sink:
        result = _run_planning_fault(mode, db, capsys, monkeypatch, sink)
        _check_planning_fault(mode, result, db, capsys, sink, CORRECTED_ALLOWED, 1)
    assert "rosa.vega@example.net" not in {r.address_key for r in _outbox(db)}  # the stale plan never knew her


@pytest.mark.parametrize("mode", [GUARDED, SEND_GUARD, UNGUARDED])
def test_ids_that_differ_only_by_leading_zeros_or_case_misdirect_nothing(mode, db, tmp_path, capsys, monkeypatch):
    """Fault 5: s-007/s-7 and S-8/s-8 are four children with four parents; a normalizing lookup merges each pair.

    s-007's notice goes to s-7's parent and S-8's to s-8's parent: two misdirections.
    """
    _district(db, tmp_path, monkeypatch, lookalikes=True)
    with db.engine.connect() as conn:  # the roster keeps the four ids apart; only the injected lookup merges them
        assert {s: {a.address_key for a in found} for s, found in notice_addresses(conn, DAY).items()} \
            == LOOKALIKES_ALLOWED
    _normalizing_lookup(monkeypatch)
    with running_sink(tmp_path) as sink:
        result = _run_planning_fault(mode, db, capsys, monkeypatch, sink)
        _check_planning_fault(mode, result, db, capsys, sink, LOOKALIKES_ALLOWED, 2)
        if mode == UNGUARDED:
            wrong = _misdirected(_scan(db, sink), LOOKALIKES_ALLOWED)
            assert sorted(wrong.values()) == [("S-8", "hugo.lowe@example.net"), ("s-007", "peter.sato@example.net")]


# -- rendering faults --------------------------------------------------------------------------------------

def _previous_letters_token(tampered: set[str]) -> Callable:
    """4a. The token of the previous letter is reused (a variable not updated per message)."""
    previous: list[str] = []

    def stale_token(letter, **kw):
        token = letter.token
        if previous:
            letter = replace(letter, token=previous[-1])
            tampered.add(kw["message_id"])
        previous.append(token)
        return real_render(letter, **kw)

    return stale_token


def _previous_letters_name(tampered: set[str]) -> Callable:
    """4b. The template context keeps the previous letter's name (the link token is this message's own)."""
    previous: list[tuple[str, str]] = []

    def stale_name(letter, **kw):
        names = (letter.given_name, letter.family_name)
        if previous and previous[-1] != names:
            letter = replace(letter, given_name=previous[-1][0], family_name=previous[-1][1])
            tampered.add(kw["message_id"])
        previous.append(names)
        return real_render(letter, **kw)

    return stale_name


def _rows_of(db, message_ids: set[str]) -> set[int]:
    return {r.id for r in _outbox(db) if r.message_id in message_ids}


@pytest.mark.parametrize("mode", [GUARDED, UNGUARDED])
def test_a_template_rendered_with_the_previous_letters_link_misdirects_nothing(
        mode, db, tmp_path, capsys, monkeypatch):
    """Fault 4a: each message after the first carries the previous message's link token.

    Four messages are rendered wrong; the guard blocks all four. Unguarded, the ledger records whom each
    link really discloses, and three of the four are misdirections (Luis's message to Ana carries María's
    link, and Ana is María's mother too: wrong, but not an unauthorized disclosure, so not listed).
    """
    _district(db, tmp_path, monkeypatch)
    tampered: set[str] = set()
    monkeypatch.setattr(sender, "render", _previous_letters_token(tampered))
    with running_sink(tmp_path) as sink:
        if mode == GUARDED:
            result = _daily(db, capsys, sink)
            assert len(tampered) == 4
            _assert_blocked_at_send(result, db, _scan(db, sink), ALLOWED, _rows_of(db, tampered))
            return
        _daily_unguarded(db, sink, monkeypatch)
        stored = _scan(db, sink)
        assert len(tampered) == 4 and len(stored) == 5
        assert {s.message_id for s in stored if s.named != s.disclosed} == tampered
        _assert_scope_is_exactly(db, capsys, stored, ALLOWED, 3)


@pytest.mark.parametrize("mode", [GUARDED, UNGUARDED])
def test_a_template_rendered_with_the_previous_letters_name(mode, db, tmp_path, capsys, monkeypatch):
    """Fault 4b: each message after the first names the previous message's subject (its link is its own).

    Guarded: the subject-line check blocks all four. Unguarded (exactly what happens): the link of each
    message still discloses only its own subject to an authorized address, so the ledger, which by
    CONTRACT section 4 names the link token's subject, records nothing unauthorized and breach-scope lists
    nothing; yet three messages named a child (given name + initial, "a new result is available") to an
    address not authorized for that child. That exposure is visible only in the message bytes: see the
    report of issue 6, item 5 (breach-scope cannot see a name swap; only the guard stops it).
    """
    _district(db, tmp_path, monkeypatch)
    tampered: set[str] = set()
    monkeypatch.setattr(sender, "render", _previous_letters_name(tampered))
    with running_sink(tmp_path) as sink:
        if mode == GUARDED:
            result = _daily(db, capsys, sink)
            assert len(tampered) == 4
            _assert_blocked_at_send(result, db, _scan(db, sink), ALLOWED, _rows_of(db, tampered))
            assert all(r.reason == f"guard: the subject line does not name {r.subject_id}"
                       for r in _outbox(db) if r.state == "blocked")
            return
        _daily_unguarded(db, sink, monkeypatch)
        stored = _scan(db, sink)
        assert {s.message_id for s in stored if s.named != s.disclosed} == tampered and len(tampered) == 4
        named_to_wrong = {s.message_id for s in stored
                          if any(a.lower() not in ALLOWED[s.named] for a in s.envelope)}
        assert len(named_to_wrong) == 3 and named_to_wrong < tampered
        _assert_scope_is_exactly(db, capsys, stored, ALLOWED, 0)


def _extra_header(name: str, address: str, about: str) -> Callable:
    """6a/b. A Cc or Bcc header added to the message about `about` (a subject's given name)."""

    def with_header(letter, **kw):
        raw = real_render(letter, **kw)
        if letter.given_name == about:
            raw = raw.replace(b"\r\nSubject:", f"\r\n{name}: {address}\r\nSubject:".encode(), 1)
        return raw

    return with_header


def _address_list_in_to(address: str, about: str) -> Callable:
    """6c. A second address appended to the To header of the message about `about`."""

    def with_list(letter, **kw):
        raw = real_render(letter, **kw)
        if letter.given_name == about:
            to = kw["to"].encode()
            raw = raw.replace(b"\r\nTo: " + to + b"\r\n", b"\r\nTo: " + to + b", " + address.encode() + b"\r\n", 1)
        return raw

    return with_list


HEADER_FAULTS = {
    # fault: (render, the subject's given name, the intended recipient, the added (unauthorized) address)
    "cc": (_extra_header("Cc", "emeka.okafor@example.net", "Jide"), "s-4", "grace.okafor@example.net",
           "emeka.okafor@example.net"),
    "bcc": (_extra_header("Bcc", "roberto.diaz@example.net", "María"), "s-1", "ana.garcia@example.net",
            "roberto.diaz@example.net"),
    "to-list": (_address_list_in_to("linh.nguyen@example.net", "Thao"), "s-3", "tnguyen@students.example.org",
                "linh.nguyen@example.net"),
}


@pytest.mark.parametrize("mode", [GUARDED, UNGUARDED])
@pytest.mark.parametrize("fault", sorted(HEADER_FAULTS))
def test_recipients_added_as_cc_bcc_or_a_list_in_to_misdirect_nothing(fault, mode, db, tmp_path, capsys, monkeypatch):
    """Fault 6: Cc/Bcc headers or a list of addresses in one To, added by a rendering bug.

    Guarded: the message is blocked (exactly one To holding exactly one address, no Cc/Bcc/Resent-*).
    Unguarded (what really happens): the sender always gives SMTP exactly one envelope recipient, the
    outbox row's address, so the added address receives nothing over SMTP; the message text still
    carries the header (the intended, authorized recipient can read the other address). Nothing was
    disclosed to an unauthorized address, and breach-scope lists exactly that: nothing.
    """
    rendering, subject, intended, added = HEADER_FAULTS[fault]
    _district(db, tmp_path, monkeypatch)
    monkeypatch.setattr(sender, "render", rendering)
    with running_sink(tmp_path) as sink:
        if mode == GUARDED:
            result = _daily(db, capsys, sink)
            stored = _scan(db, sink)
            bad = {r.id for r in _outbox(db) if r.subject_id == subject and r.address_key == intended}
            assert len(bad) == 1
            _assert_blocked_at_send(result, db, stored, ALLOWED, bad)
            assert all(added.encode() not in s.raw for s in stored)
            return
        _daily_unguarded(db, sink, monkeypatch)
        stored = _scan(db, sink)
        assert len(stored) == 5
        carrying = [s for s in stored if added.encode() in s.raw]
        assert len(carrying) == 1
        [message] = carrying
        assert message.disclosed == subject and message.envelope == (intended,)  # one RCPT: the intended address
        if fault == "to-list":
            assert message.to == (intended, added) and not message.other_headers
        else:
            assert message.to == (intended,) and message.other_headers == (fault,)
        assert all(added not in (a.lower() for a in s.envelope) for s in stored)
        with db.engine.connect() as conn:  # the ledger records where it went: the intended address
            entry = conn.execute(text("SELECT subject_id, address FROM ledger_entries WHERE message_id = :m"),
                                 {"m": message.message_id}).one()
        assert tuple(entry) == (subject, intended)
        _assert_scope_is_exactly(db, capsys, stored, ALLOWED, 0)


# -- a stale outbox row ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", [GUARDED, UNGUARDED])
def test_a_stale_outbox_row_resent_after_a_custody_change_misdirects_nothing(mode, db, tmp_path, capsys, monkeypatch):
    """Fault 7: the day is planned (and checked) while p-1 is s-1's parent; the server is down, so the rows
    wait; a backdated correction then says p-1 never was; `send` drains the old rows.

    Guarded: the per-message guard re-verifies on the roster as known at send time and blocks s-1's row to
    Ana; the four others go. Unguarded: Ana gets María's notice and breach-scope lists exactly that message.
    """
    _district(db, tmp_path, monkeypatch)
    monkeypatch.setenv("SCHOOLPASS_RETRY_BASE_SECONDS", "3600")
    planned = run(capsys, "--db", db.url, "daily", "--on", ON, "--smtp", "smtp://127.0.0.1:9")  # nobody listens
    assert planned.code == 4, planned.out + planned.err  # everything waits for a retry
    assert {r.state for r in _outbox(db)} == {"planned"}
    _correct_custody(db, tmp_path)
    with db.engine.begin() as conn:  # the failed connections scheduled retries: make them due now
        conn.exec_driver_sql("UPDATE outbox SET next_attempt_at = NULL WHERE state = 'planned'")
    stale = {r.id for r in _outbox(db) if r.subject_id == "s-1" and r.address_key == "ana.garcia@example.net"}
    assert len(stale) == 1 and _wrong_rows(_outbox(db), CORRECTED_ALLOWED) == stale
    with running_sink(tmp_path) as sink:
        if mode == GUARDED:
            result = run(capsys, "--db", db.url, "send", "--smtp", sink.url)
            _assert_blocked_at_send(result, db, _scan(db, sink), CORRECTED_ALLOWED, stale)
            return
        report = Sender(db.engine, _settings(db, sink), Mailer(parse_smtp_url(sink.url)), guard=NoGuard()).drain()
        assert report.sent == 5 and report.blocked == 0
        stored = _scan(db, sink)
        _assert_scope_is_exactly(db, capsys, stored, CORRECTED_ALLOWED, 1)
        assert list(_misdirected(stored, CORRECTED_ALLOWED).values()) == [("s-1", "ana.garcia@example.net")]
