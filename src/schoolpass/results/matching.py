"""Attaching lab results to people without guessing (CONTRACT section 3, Matching).

For each result (a row of `to_match`, with its lab patient ids in `to_match_ids`):

1. By id: the lab's patient id equals, as text, a student's or staff member's
   OneRoster `identifier` or `sourcedId`, and the lab's given name, family name and
   birth date, where the lab gives them, agree with that person's (folded case and
   accents). Exactly one such person: matched.
2. Otherwise (no id, an id nobody has, or an id match the name or birth date
   contradicts: twins with swapped ids, ids that lost leading zeros): by given name
   + family name + birth date, which must all be given and match exactly one person.
3. Anything else waits in the unmatched queue with the reason.

People are compared as the roster knows them now (their current records).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

# A person's current record: the open-ended version as known now.
CURRENT = "{p}.rec_to IS NULL AND {p}.valid_to IS NULL"

WORK_TABLES = {
    "to_match": "ref INTEGER PRIMARY KEY, given_key TEXT NOT NULL, family_key TEXT NOT NULL, birth_date {date}",
    "to_match_ids": "ref INTEGER NOT NULL, patient_id TEXT NOT NULL",
    "id_candidates": "ref INTEGER NOT NULL, person_id TEXT NOT NULL, agrees INTEGER NOT NULL, "
                     "unconfirmed INTEGER NOT NULL",
    "match_outcome": "ref INTEGER PRIMARY KEY, person_id TEXT, method TEXT, reason TEXT",
    # Per remaining result with a full name and birth date: how many people have them (and the first).
    "name_candidates": "ref INTEGER PRIMARY KEY, persons INTEGER NOT NULL, person_id TEXT NOT NULL",
    # The few results no id matched: the later steps look only at these.
    "remaining": "ref INTEGER PRIMARY KEY, given_key TEXT NOT NULL, family_key TEXT NOT NULL, birth_date {date}",
}


@dataclass
class MatchCounts:
    by_id: int = 0
    by_name: int = 0
    unmatched: int = 0


def create_work_tables(conn: Connection) -> None:
    postgres = conn.dialect.name == "postgresql"
    for table, spec in WORK_TABLES.items():
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {'' if postgres else 'temp.'}{table}")
        suffix = " ON COMMIT DROP" if postgres else ""
        conn.exec_driver_sql(f"CREATE TEMP TABLE {table} ({spec.format(date='DATE' if postgres else 'TEXT')}){suffix}")
    conn.exec_driver_sql("CREATE INDEX ix_to_match_ids_ref ON to_match_ids (ref)")
    # Covering: grouping the candidates by result and the reasons read only the index.
    conn.exec_driver_sql("CREATE INDEX ix_id_candidates_ref ON id_candidates (ref, agrees, person_id, unconfirmed)")


def take_staged(conn: Connection, staged: str) -> None:
    """Fill `to_match` from a table of staged results (row_no, given_key, family_key, birth_date)."""
    conn.exec_driver_sql(f"INSERT INTO to_match (ref, given_key, family_key, birth_date) "
                         f"SELECT row_no, given_key, family_key, birth_date FROM {staged}")


def drop_work_tables(conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        for table in WORK_TABLES:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{table}")


# Above this many results, SQLite matching reads birth dates from a copy of the current ones
# (one covering lookup each) instead of the versions table (an index lookup and a row each):
# a large file checks a birth date for every id match and for every namesake, and the copy
# (every current birth date: 600k rows in a district) pays for itself from about here.
COPY_BIRTH_DATES_FROM = 250000


def match_all(conn: Connection) -> MatchCounts:
    """Fill `match_outcome` for every row of `to_match`."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ANALYZE to_match")
        conn.exec_driver_sql("ANALYZE to_match_ids")
        return _match_all(conn)
    if conn.execute(text(f"SELECT count(*) >= {COPY_BIRTH_DATES_FROM} FROM "
                         f"(SELECT 1 FROM to_match LIMIT {COPY_BIRTH_DATES_FROM})")).scalar():
        conn.exec_driver_sql("DROP TABLE IF EXISTS temp.current_births")
        conn.exec_driver_sql("CREATE TEMP TABLE current_births (sourced_id TEXT NOT NULL, id INTEGER NOT NULL, "
                             "birth_date TEXT, PRIMARY KEY (sourced_id, id)) WITHOUT ROWID")
        current = CURRENT.format(p="b")
        conn.exec_driver_sql("INSERT INTO current_births (sourced_id, id, birth_date) "
                             f"SELECT sourced_id, id, birth_date FROM birth_date_versions b WHERE {current}")
        try:
            return _match_all(conn, "current_births b ON b.sourced_id = p.sourced_id")
        finally:
            conn.exec_driver_sql("DROP TABLE IF EXISTS temp.current_births")
    return _match_all(conn)


def _match_all(conn: Connection, births: str = "") -> MatchCounts:
    """`births`: where a person's current birth dates are read (the versions table unless given)."""
    p = CURRENT.format(p="p")
    births = births or f"birth_date_versions b ON b.sourced_id = p.sourced_id AND {CURRENT.format(p='b')}"

    # 1. Everyone whose identifier or sourcedId is one of the lab's ids, and whether the lab's
    #    name and birth date (where given) agree with theirs.
    agreement = """
        CASE WHEN (t.given_key = '' OR t.given_key = p.given_key)
              AND (t.family_key = '' OR t.family_key = p.family_key)
              AND (t.birth_date IS NULL OR t.birth_date = b.birth_date)
             THEN 1 ELSE 0 END"""
    # The names agree but the roster has no birth date to hold the lab's against: not a match.
    unconfirmed = """
        CASE WHEN (t.given_key = '' OR t.given_key = p.given_key)
              AND (t.family_key = '' OR t.family_key = p.family_key)
              AND t.birth_date IS NOT NULL AND b.birth_date IS NULL
             THEN 1 ELSE 0 END"""
    for column in ("identifier", "sourced_id"):
        conn.execute(text(f"""
            INSERT INTO id_candidates (ref, person_id, agrees, unconfirmed)
            SELECT i.ref, p.sourced_id, {agreement}, {unconfirmed}
            FROM to_match_ids i
            JOIN to_match t ON t.ref = i.ref
            JOIN person_versions p ON p.{column} = i.patient_id AND {p} AND p.kind IN ('student', 'staff')
            LEFT JOIN {births}
        """))
    conn.execute(text("""
        INSERT INTO match_outcome (ref, person_id, method, reason)
        SELECT ref, min(person_id), 'id', NULL FROM id_candidates
        WHERE agrees = 1 GROUP BY ref HAVING count(DISTINCT person_id) = 1
    """))
    conn.execute(text("""
        INSERT INTO remaining (ref, given_key, family_key, birth_date)
        SELECT t.ref, t.given_key, t.family_key, t.birth_date FROM to_match t
        WHERE NOT EXISTS (SELECT 1 FROM match_outcome m WHERE m.ref = t.ref)
    """))
    # 2. The rest, by name and birth date, when the lab gave all three.
    conn.exec_driver_sql("DELETE FROM name_candidates")
    conn.execute(text(f"""
        INSERT INTO name_candidates (ref, persons, person_id)
        SELECT t.ref, count(DISTINCT p.sourced_id), min(p.sourced_id)
        FROM remaining t
        JOIN person_versions p ON p.family_key = t.family_key AND p.given_key = t.given_key AND {p}
             AND p.kind IN ('student', 'staff')
        JOIN {births} AND b.birth_date = t.birth_date
        WHERE t.given_key <> '' AND t.family_key <> '' AND t.birth_date IS NOT NULL
        GROUP BY t.ref
    """))
    conn.execute(text("""
        INSERT INTO match_outcome (ref, person_id, method, reason)
        SELECT ref, person_id, 'name-birth-date', NULL FROM name_candidates WHERE persons = 1
    """))
    # 3. Why the others could not be matched.
    conn.execute(text("""
        INSERT INTO match_outcome (ref, person_id, method, reason)
        SELECT t.ref, NULL, NULL,
            CASE
              WHEN EXISTS (SELECT 1 FROM id_candidates c WHERE c.ref = t.ref AND c.agrees = 1)
                THEN 'the lab''s patient id belongs to more than one person'
              WHEN EXISTS (SELECT 1 FROM name_candidates n WHERE n.ref = t.ref AND n.persons > 1)
                THEN 'more than one person has this name and birth date'
              WHEN EXISTS (SELECT 1 FROM id_candidates c WHERE c.ref = t.ref AND c.unconfirmed = 1)
                THEN 'the person with this id has no birth date on record to confirm the lab''s'
              WHEN EXISTS (SELECT 1 FROM id_candidates c WHERE c.ref = t.ref)
                THEN 'the lab''s name or birth date disagrees with the person who has this id, and no one person '
                     || 'has this name and birth date'
              WHEN EXISTS (SELECT 1 FROM to_match_ids i WHERE i.ref = t.ref)
                THEN 'no one in the roster has this id, and no one person has this name and birth date'
              ELSE 'no patient id, and no one person has this name and birth date'
            END
        FROM remaining t
        WHERE NOT EXISTS (SELECT 1 FROM match_outcome m WHERE m.ref = t.ref)
    """))
    # One pass, no sort (a GROUP BY method would sort every outcome).
    by_id, by_name, total = conn.execute(text("""
        SELECT coalesce(sum(CASE WHEN method = 'id' THEN 1 ELSE 0 END), 0),
               coalesce(sum(CASE WHEN method = 'name-birth-date' THEN 1 ELSE 0 END), 0), count(*)
        FROM match_outcome""")).one()
    return MatchCounts(by_id=by_id, by_name=by_name, unmatched=total - by_id - by_name)
