"""Notification letters after a breach: one per affected person per authorized contact.

Titled "Notice of Data Breach" with the headings California Civil Code 1798.82 requires,
in the contact's language, as printable HTML (and PDF when WeasyPrint, the `pdf` extra, is
installed). Letters are files for staff to print or send; nothing is mailed from here. They
never name the wrong recipients: only when and what was sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
from sqlalchemy import Connection, Date, bindparam, text

from schoolpass.disclosure.accounting import WHAT
from schoolpass.disclosure.breach import BreachScope
from schoolpass.roster.authorization import in_force, notice_addresses

_ENV = jinja2.Environment(loader=jinja2.PackageLoader("schoolpass.disclosure", "templates"),
                          autoescape=jinja2.select_autoescape(["html"]), trim_blocks=False)
_MONTHS_ES = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
              "noviembre", "diciembre")


def long_date(day: date, language: str) -> str:
    if language == "es":
        return f"{day.day} de {_MONTHS_ES[day.month - 1]} de {day.year}"
    return f"{day:%B} {day.day}, {day.year}"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


@dataclass(frozen=True)
class LetterSet:
    written: list[Path]
    without_contact: list[str]  # affected people with no authorized address today: staff must reach them
    pdf: bool


def write_letters(conn: Connection, scope: BreachScope, folder: Path, today: date, zone: ZoneInfo,
                  district: str, phone: str) -> LetterSet:
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import weasyprint  # the optional `pdf` extra
    except ImportError:
        weasyprint = None
    pdf = weasyprint is not None
    affected = scope.affected_subjects
    addresses = notice_addresses(conn, today, affected)
    names = _names(conn, today, affected)
    recipient_names = _names(conn, today, {a.recipient_id for found in addresses.values() for a in found})
    written: list[Path] = []
    without: list[str] = []
    for subject in affected:
        entries = [e for e in scope.unauthorized if e["subject_id"] == subject]
        if not addresses.get(subject):
            without.append(subject)
            continue
        for addressee in addresses[subject]:
            language = addressee.language if addressee.language in ("en", "es") else "en"
            sends = []
            for e in entries:
                sent = datetime.fromisoformat(e["sent_at"].replace("Z", "+00:00")).astimezone(zone).date()
                sends.append((long_date(sent, language), WHAT[language].get(e["kind"], e["kind"])))
            html = _ENV.get_template(f"letter.{language}.html").render(
                district=district, phone=phone, today_long=long_date(today, language),
                recipient_name=recipient_names.get(addressee.recipient_id, ""), address=addressee.address,
                subject_name=names.get(subject, subject), first_long=long_date(scope.first, language),
                last_long=long_date(scope.last, language), count=len(entries),
                wrong=sorted({e["address"].lower() for e in entries}),
                kinds=sorted({WHAT[language].get(e["kind"], e["kind"]) for e in entries}), sends=sends,
                reference=f"{scope.first:%Y%m%d}-{_safe(subject)}")
            path = folder / f"{_safe(subject)}--{_safe(addressee.recipient_id)}.{language}.html"
            path.write_text(html, encoding="utf-8")
            written.append(path)
            if pdf:
                pdf_path = path.with_suffix(".pdf")
                weasyprint.HTML(string=html).write_pdf(str(pdf_path))
                written.append(pdf_path)
    return LetterSet(written, without, pdf)


def _names(conn: Connection, on: date, ids) -> dict[str, str]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    statement = text(f"SELECT p.sourced_id, p.given_name, p.family_name FROM person_versions p "
                     f"WHERE {in_force('p', None)} AND p.sourced_id IN :ids").bindparams(
        bindparam("on", type_=Date), bindparam("ids", expanding=True))
    return {sid: f"{given or ''} {family or ''}".strip() for sid, given, family in conn.execute(
        statement, {"on": on, "ids": ids})}
