"""Senders that die, and senders that run side by side: nothing lost, nothing sent twice (CONTRACT section 4).

"The same notice is never sent twice, also when daily runs again or resumes after a crash, except that a crash
or dropped connection after the server took the data may resend that one message, with the same Message-ID and
one ledger entry."

The senders here are real `schoolpass send` processes (the installed console script) talking to a real SMTP
sink (aiosmtpd) running in this test process; the crash is a SIGKILL, so no cleanup code of the sender runs.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from schoolpass.disclosure.models import LedgerEntry
from schoolpass.notices.models import PLANNED, SENDING, SENT, OutboxMessage
from schoolpass.notices.sender import Sender
from schoolpass.notices.sink import parse
from schoolpass.settings import Settings
from schoolpass.storage.engine import make_engine
from tests.cli import run
from tests.notices.bulk_outbox import fill_outbox
from tests.notices.sink import running_sink

SCHOOLPASS = str(Path(sys.executable).parent / "schoolpass")  # the console script, as a district runs it
SEED = 20211122


def send_command(url: str, smtp: str, *more: str) -> list[str]:
    return [SCHOOLPASS, "--db", url, "send", "--smtp", smtp, *more]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without SCHOOLPASS_* settings that could change how a sender behaves, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHOOLPASS_")}
    env.update(extra)
    return env


def arrivals(sink) -> Counter:
    """Message-ID -> how many times the sink stored a message with it."""
    return Counter(str(parse(raw)["Message-ID"]) for raw in sink.raw_messages())


def outbox_ids(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(OutboxMessage.message_id)).scalars())


def outbox_states(engine) -> Counter:
    with engine.connect() as conn:
        rows = conn.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all()
    return Counter(dict(rows))


def waiting(engine) -> int:
    states = outbox_states(engine)
    return states.get(PLANNED, 0) + states.get(SENDING, 0)


def ledger_rows(engine) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(LedgerEntry.seq, LedgerEntry.message_id)
                                               .order_by(LedgerEntry.seq))]


@pytest.fixture
def plain_env(monkeypatch):
    """No SCHOOLPASS_* settings from the caller's shell in this process (limits, lease, zone)."""
    for name in [k for k in os.environ if k.startswith("SCHOOLPASS_")]:
        monkeypatch.delenv(name)
    return monkeypatch


def assert_ledger_once_per_sent_row(engine, capsys, url: str, count: int, about: str) -> None:
    """One ledger entry per sent outbox row (seq 1..count, no Message-ID twice), and the chain verifies."""
    entries = ledger_rows(engine)
    with engine.connect() as conn:
        sent = set(conn.execute(select(OutboxMessage.message_id).where(OutboxMessage.state == SENT)).scalars())
    twice = sorted(m for m, n in Counter(m for _, m in entries).items() if n > 1)
    assert not twice, f"{about}: {len(twice)} Message-ID(s) have more than one ledger entry, e.g. {twice[:3]}"
    assert [seq for seq, _ in entries] == list(range(1, count + 1)), f"{about}: ledger seqs are not 1..{count}"
    assert {m for _, m in entries} == sent and len(sent) == count, \
        f"{about}: ledger entries do not match the {count} sent outbox rows ({len(entries)} entries, {len(sent)} sent)"
    verified = run(capsys, "--db", url, "ledger", "verify")
    assert verified.code == 0, f"{about}: ledger verify failed: {verified.err}"


# -- killed senders ----------------------------------------------------------------------------------------------------

KILLS = 12
MESSAGES = 300


@dataclass
class Round:
    moment: str  # how the kill moment was chosen
    code: int | None  # the sender's exit code (-9: killed)
    killed: bool
    first: int  # messages the sink had stored when the round began
    stored: int = 0  # messages the sink stored during the round


def test_killed_senders_lose_nothing_and_double_at_most_the_message_in_flight(tmp_path, sqlite_template, capsys):
    """SQLite file database; senders SIGKILLed at random moments, then one sender finishes the job.

    Each round is a fresh `schoolpass send`. A third of the kills come at a blind moment 0.3-1.5 s after the start
    (start-up, claiming or sending); the rest 0-0.3 s after the sink has taken this round's first message, so most
    land while messages are going out (start-up alone takes most of a second). The seed makes the choices
    reproducible; the exact moment still depends on the machine.

    Most kills while sending resend the message in flight: a killed process's memory is torn down before its socket
    is closed, so the sink (4 ms a message) usually finishes taking a message whose data had arrived. That is the
    contract's one allowed resend; anything more fails here.
    """
    path = tmp_path / "crash.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    try:
        fill_outbox(engine, tmp_path, MESSAGES)
        planned = outbox_ids(engine)
        rng = random.Random(SEED)
        env = clean_env()
        kills, rounds, log = 0, [], tmp_path / "senders.log"
        started = time.monotonic()
        with running_sink(tmp_path, delay_seconds=0.004) as sink, open(log, "wb") as out:
            while kills < KILLS and waiting(engine) > 0:
                before = sink.handler.accepted
                blind = rng.random() < 1 / 3
                pause = rng.uniform(0.3, 1.5) if blind else rng.uniform(0.0, 0.3)
                proc = subprocess.Popen(send_command(url, sink.url), stdout=out, stderr=out, env=env)
                try:
                    if not blind:
                        deadline = time.monotonic() + 15
                        while sink.handler.accepted == before and proc.poll() is None and time.monotonic() < deadline:
                            time.sleep(0.002)
                    time.sleep(pause)
                    killed = proc.poll() is None
                    if killed:
                        os.kill(proc.pid, signal.SIGKILL)
                        kills += 1
                finally:
                    proc.wait(timeout=30)
                time.sleep(0.05)  # a message whose data the sink had before the kill is stored within its delay
                rounds.append(Round(("blind " if blind else "sending ") + f"{pause:.2f}s", proc.returncode, killed,
                                    before))
            before_final = sink.handler.accepted
            final = subprocess.run(send_command(url, sink.url), capture_output=True, text=True, env=env, timeout=60)
            in_order = [str(parse(raw)["Message-ID"]) for raw in sink.raw_messages()]  # delivery order
        got = Counter(in_order)
        elapsed = time.monotonic() - started

        doubled = sorted(m for m, n in got.items() if n > 1)
        total = sum(got.values())
        ends = [r.first for r in rounds[1:]] + [before_final]
        for r, end in zip(rounds, ends):
            r.stored = end - r.first
        # Where the one message a killed sender may have had in flight is: the last one the sink took from it.
        last_of_killed = {end - 1 for r, end in zip(rounds, ends) if r.killed and r.stored}
        summary = (f"{kills} kills ({len(last_of_killed)} while sending), {len(doubled)} duplicate(s), "
                   f"{total} arrivals for {MESSAGES} messages, "
                   f"{len(in_order) - before_final} sent by the final run ({final.stdout.strip().splitlines()[:1]}), "
                   f"{elapsed:.1f} s in all; "
                   f"rounds (kill moment, exit code, stored): {[(r.moment, r.code, r.stored) for r in rounds]}")
        with capsys.disabled():
            print(f"\n{summary}")
        assert kills >= 3, f"too few senders were killed mid-run to test anything: {summary}"
        assert final.returncode == 0, f"the final send failed ({final.returncode}): {final.stderr}\n{summary}"
        assert outbox_states(engine) == Counter({SENT: MESSAGES}), f"outbox {outbox_states(engine)}; {summary}"
        missing = planned - set(got)
        assert not missing, f"{len(missing)} planned message(s) never arrived, e.g. {sorted(missing)[:3]}; {summary}"
        assert set(got) <= planned, f"messages arrived that were never planned: {sorted(set(got) - planned)[:3]}"
        assert max(got.values()) <= 2, f"a Message-ID arrived more than twice: " \
                                       f"{[(m, n) for m, n in got.items() if n > 2][:3]}; {summary}"
        assert total <= MESSAGES + kills, f"more duplicates than kills: {summary}"
        not_in_flight = [m for m in doubled if in_order.index(m) not in last_of_killed]
        assert not not_in_flight, f"sent twice, but not the last message a killed sender had sent: " \
                                  f"{not_in_flight[:3]}; {summary}"
        assert_ledger_once_per_sent_row(engine, capsys, url, MESSAGES, summary)
    finally:
        engine.dispose()


# -- senders side by side ----------------------------------------------------------------------------------------------

SENT_LINE = re.compile(r"Sent (\d+), failed (\d+), blocked by the guard (\d+)")


@pytest.mark.postgres
def test_four_senders_on_postgresql_send_everything_exactly_once(db, tmp_path, capsys):
    if db.backend != "postgresql":
        pytest.skip("PostgreSQL only: four concurrent senders need row locks with SKIP LOCKED")
    count = 400
    fill_outbox(db.engine, tmp_path, count)
    planned = outbox_ids(db.engine)
    env = clean_env()
    started = time.monotonic()
    with running_sink(tmp_path, delay_seconds=0.002) as sink:
        procs = [subprocess.Popen(send_command(db.url, sink.url), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env) for _ in range(4)]
        outputs = [proc.communicate(timeout=120) for proc in procs]
        got = arrivals(sink)
    elapsed = time.monotonic() - started
    shares = [int(m.group(1)) if (m := SENT_LINE.search(out)) else None for out, _ in outputs]
    summary = f"each sender sent {shares}, {sum(got.values())} arrivals, {elapsed:.1f} s"
    with capsys.disabled():
        print(f"\n{summary}")
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, f"a sender exited {proc.returncode}: {err or out}; {summary}"
    assert set(got) == planned, f"{len(planned - set(got))} missing, {len(set(got) - planned)} unknown; {summary}"
    assert all(n == 1 for n in got.values()), \
        f"sent more than once: {[(m, n) for m, n in got.items() if n > 1][:5]}; {summary}"
    assert sum(s or 0 for s in shares) == count, summary
    assert outbox_states(db.engine) == Counter({SENT: count})
    assert_ledger_once_per_sent_row(db.engine, capsys, db.url, count, summary)


def test_send_workers_option_drains_with_several_processes(db, tmp_path, capsys):
    count = 60
    fill_outbox(db.engine, tmp_path, count)
    planned = outbox_ids(db.engine)
    with running_sink(tmp_path, delay_seconds=0.002) as sink:
        done = subprocess.run(send_command(db.url, sink.url, "--workers", "2"), capture_output=True, text=True,
                              env=clean_env(), timeout=60)
        got = arrivals(sink)
    assert done.returncode == 0, done.stderr
    assert f"Sent {count}," in done.stdout, done.stdout
    assert set(got) == planned and all(n == 1 for n in got.values()), got
    assert outbox_states(db.engine) == Counter({SENT: count})
    assert_ledger_once_per_sent_row(db.engine, capsys, db.url, count, "send --workers 2")


# -- sending limits ----------------------------------------------------------------------------------------------------

def test_rate_limit_and_daily_cap(db, tmp_path, capsys, plain_env):
    monkeypatch = plain_env
    fill_outbox(db.engine, tmp_path, 12)
    with running_sink(tmp_path) as sink:
        # The daily cap: 5 go out, the other 7 wait for tomorrow (exit 4, said on stderr).
        monkeypatch.setenv("SCHOOLPASS_DAILY_CAP", "5")
        first = run(capsys, "--db", db.url, "send", "--smtp", sink.url)
        assert first.code == 4, (first.code, first.out, first.err)
        assert "Sent 5," in first.out, first.out
        assert "7 message(s) still wait" in first.err, first.err
        assert len(sink.raw_messages()) == 5
        # Again the same day: nothing more.
        again = run(capsys, "--db", db.url, "send", "--smtp", sink.url)
        assert again.code == 4 and "Sent 0," in again.out and "7 message(s) still wait" in again.err, again
        assert len(sink.raw_messages()) == 5
        # A rate of 60 a minute lets the 7 left go at once (5 + 7 stay below the rate), inside a second or two.
        monkeypatch.delenv("SCHOOLPASS_DAILY_CAP")
        monkeypatch.setenv("SCHOOLPASS_SEND_RATE", "60")
        started = time.monotonic()
        third = run(capsys, "--db", db.url, "send", "--smtp", sink.url)
        took = time.monotonic() - started
        assert third.code == 0 and "Sent 7," in third.out, (third.code, third.out, third.err)
        assert took < 5, f"7 messages under a rate of 60/min took {took:.1f} s"
        assert len(sink.raw_messages()) == 12
    assert_ledger_once_per_sent_row(db.engine, capsys, db.url, 12, "cap then rate")


def test_daily_cap_names_the_cap_as_the_reason_messages_wait(db, tmp_path, capsys, plain_env):
    """An operator told "retries due later" would look for a failing server, not a reached cap."""
    monkeypatch = plain_env
    fill_outbox(db.engine, tmp_path, 3)
    monkeypatch.setenv("SCHOOLPASS_DAILY_CAP", "1")
    with running_sink(tmp_path) as sink:
        result = run(capsys, "--db", db.url, "send", "--smtp", sink.url)
    assert result.code == 4 and "2 message(s) still wait" in result.err, result
    assert "cap" in result.err, (
        "PRODUCT BUG (src/schoolpass/notices/sender.py, Sender.drain): when the daily cap stops the run, "
        "_wait_for returns inf, and drain records report.stopped = 'retries due later' instead of the cap, "
        f"so stderr misstates why messages wait: {result.err.strip()!r}")


def test_room_counts_the_last_minute_the_district_day_and_messages_in_flight(db, tmp_path, capsys, plain_env):
    """`Sender._room`, the one place both limits are enforced, at chosen moments (no waiting for real minutes)."""
    fill_outbox(db.engine, tmp_path, 12)
    with running_sink(tmp_path) as sink:
        assert run(capsys, "--db", db.url, "send", "--smtp", sink.url).code == 0
    with db.engine.connect() as conn:
        last = datetime.fromisoformat(conn.execute(select(func.max(LedgerEntry.sent_at))).scalar_one())
    # Two rows back in `sending`, as if a sender held them right now.
    with db.engine.begin() as conn:
        conn.execute(update(OutboxMessage).where(OutboxMessage.id.in_(
            select(OutboxMessage.id).order_by(OutboxMessage.id).limit(2).scalar_subquery())).values(state=SENDING))

    def room(now: datetime, **limits) -> tuple[int, str | None]:
        sender = Sender(db.engine, Settings(database_url=db.url, **limits), mailer=None)  # type: ignore[arg-type]
        with db.engine.connect() as conn:
            return sender._room(conn, now)

    soon = last + timedelta(seconds=1)
    # 12 in the ledger within the last minute, 2 in flight.
    assert room(soon) == (50, None)
    assert room(soon, send_rate=20) == (6, "rate")
    assert room(soon, send_rate=14) == (0, "rate")
    assert room(soon, send_rate=10) == (0, "rate")  # never negative
    assert room(soon, send_rate=100) == (50, None)  # the batch size bounds it
    # A minute later the rate window is empty again; only the messages in flight count.
    assert room(last + timedelta(seconds=61), send_rate=20) == (18, "rate")
    # The cap counts the district day (America/Los_Angeles) of `now`.
    assert room(soon, daily_cap=20) == (6, "cap")
    assert room(soon, daily_cap=14) == (0, "cap")
    zone = Settings().zone
    tomorrow = (last.astimezone(zone) + timedelta(days=1)).replace(hour=0, minute=0, second=1, microsecond=0)
    assert room(tomorrow.astimezone(UTC), daily_cap=20) == (18, "cap")
    # Both limits: the tighter one wins.
    assert room(soon, send_rate=30, daily_cap=20) == (6, "cap")
    assert room(soon, send_rate=19, daily_cap=30) == (5, "rate")


# -- a sender that outlives its lease ----------------------------------------------------------------------------------

def test_a_sender_whose_lease_ran_out_does_not_send_or_record_twice(db, tmp_path, capsys):
    """A live sender is slower than its lease (here 1 s for a batch that takes 2 s; in production 300 s for a batch
    of 50 against a server that takes 6 s a message): a second sender takes the rest of its batch back. Nobody
    crashed, so every message must still go out once, with one ledger entry."""
    count = 8
    fill_outbox(db.engine, tmp_path, count)
    planned = outbox_ids(db.engine)
    env = clean_env(SCHOOLPASS_SEND_LEASE_SECONDS="1")
    with running_sink(tmp_path, delay_seconds=0.25) as sink:
        first = subprocess.Popen(send_command(db.url, sink.url), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env=env)
        deadline = time.monotonic() + 15
        while sink.handler.accepted == 0 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        second = subprocess.Popen(send_command(db.url, sink.url), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env)
        outputs = [p.communicate(timeout=60) for p in (first, second)]
        got = arrivals(sink)
    with db.engine.connect() as conn:
        entries = Counter(conn.execute(select(LedgerEntry.message_id)).scalars())
    said = [out.strip().splitlines()[:1] for out, _ in outputs]
    summary = (f"arrivals {sum(got.values())} for {count} messages, {sum(n > 1 for n in got.values())} sent twice, "
               f"{sum(entries.values())} ledger entries; senders: {said}")
    assert first.returncode == 0 and second.returncode == 0, outputs
    assert set(got) == planned, summary
    problems = []
    if any(n > 1 for n in got.values()):
        problems.append(
            "Sender._claim/_send_batch: a batch's lease is set once at claim time (send_lease_seconds for up to 50 "
            "messages) and never renewed, and nothing checks before each SMTP send that this sender still holds the "
            "row, so a live but slow sender and the sender that took its rows back both send them")
    if any(n > 1 for n in entries.values()) or len(entries) != count:
        problems.append(
            "Sender._record_sent: it appends a ledger entry even when its UPDATE changed no row (the other sender "
            "already recorded the message sent), so a message gets two ledger entries")
    assert not problems, "PRODUCT BUG (src/schoolpass/notices/sender.py): " + "; ".join(problems) + f". {summary}"
