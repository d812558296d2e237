"""Accounting of disclosures about one person (HIPAA 45 CFR 164.528, FERPA 34 CFR 99.32).

For each message sent about the person: when, to whom (name and address), what kind of
information (the kind of notice, never its content), and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, text

from schoolpass.errors import NotFound
from schoolpass.roster.authorization import in_force
from schoolpass.roster.people import kind_of

WHAT = {
    "en": {"result-available": "that a new school testing result was available, with a link to view it",
           "test-overdue": "a reminder that a school screening test was due",
           "exemption-ending": "a reminder that a school screening test was due"},
    "es": {"result-available": "que había un nuevo resultado de las pruebas escolares, con un enlace para verlo",
           "test-overdue": "un recordatorio de que debía hacerse una prueba de detección escolar",
           "exemption-ending": "un recordatorio de que debía hacerse una prueba de detección escolar"},
}
PURPOSE = {"en": "School health testing program: notice to the student's authorized contacts or the person themself",
           "es": "Programa de pruebas de salud escolar: aviso a los contactos autorizados del estudiante o a la persona"}


@dataclass(frozen=True)
class Disclosure:
    seq: int
    sent_at: datetime  # in the district's zone
    on_date: date
    kind: str
    recipient_id: str
    recipient_name: str
    address: str
    channel: str
    purpose: str
    message_id: str

    def as_dict(self) -> dict:
        return {"seq": self.seq, "sent_at": self.sent_at.isoformat(), "on_date": self.on_date.isoformat(),
                "kind": self.kind, "information": WHAT["en"].get(self.kind, self.kind),
                "recipient_id": self.recipient_id, "recipient_name": self.recipient_name, "address": self.address,
                "channel": self.channel, "purpose": self.purpose, "message_id": self.message_id}


def accounting(conn: Connection, person_id: str, zone: ZoneInfo) -> list[Disclosure]:
    """Every disclosure about `person_id`, oldest first; recipients named as the roster knew them that day."""
    if kind_of(conn, person_id) is None and not conn.execute(
            text("SELECT 1 FROM ledger_entries WHERE subject_id = :s LIMIT 1"), {"s": person_id}).first():
        raise NotFound(f"no person with sourcedId {person_id} in the roster or the ledger")
    rows = conn.execute(text(f"""
        SELECT e.seq, e.sent_at, e.on_date, e.kind, e.recipient_id, e.address, e.channel, e.purpose, e.message_id,
               (SELECT c.given_name || ' ' || c.family_name FROM person_versions c
                WHERE c.sourced_id = e.recipient_id AND {in_force('c', None).replace(':on', 'e.on_date')}
                ORDER BY c.valid_from DESC LIMIT 1) AS then_name,
               (SELECT c.given_name || ' ' || c.family_name FROM person_versions c
                WHERE c.sourced_id = e.recipient_id ORDER BY c.rec_from DESC, c.valid_from DESC LIMIT 1) AS any_name
        FROM ledger_entries e WHERE e.subject_id = :s ORDER BY e.seq""").bindparams(
        bindparam("s")), {"s": person_id}).all()
    found = []
    for r in rows:
        sent = datetime.fromisoformat(r.sent_at.replace("Z", "+00:00")).astimezone(zone)
        day = r.on_date if isinstance(r.on_date, date) else date.fromisoformat(r.on_date)
        found.append(Disclosure(r.seq, sent, day, r.kind, r.recipient_id, r.then_name or r.any_name or "",
                                r.address, r.channel, r.purpose, r.message_id))
    return found

