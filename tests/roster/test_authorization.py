"""The authorization rule: who may receive notices about a person on a day."""

from __future__ import annotations

from datetime import date

from schoolpass.roster.authorization import authorized_recipients, born_by_for_age
from schoolpass.roster.importer import import_roster
from tests.roster.exports import read_sample, write_export


def recipients(db, subject: str, on: date, known_after: int | None = None) -> list[tuple[str, str]]:
    with db.engine.connect() as conn:
        return [(r.recipient_id, r.relation) for r in authorized_recipients(conn, on, [subject], known_after)]


def sample_users() -> dict[str, dict[str, str]]:
    return {row["sourcedId"]: row for row in read_sample("users.csv")}


def test_sample_roster_follows_the_rule(db, tmp_path):
    import_roster(db.engine, write_export(tmp_path / "x"), date(2021, 1, 4))
    day = date(2021, 11, 22)
    assert recipients(db, "s-1", day) == [("p-1", "parent")]  # p-2 is a denied guardian
    assert recipients(db, "s-2", day) == [("p-1", "parent")]  # sibling, same parent, own notice
    assert recipients(db, "s-4", day) == [("p-4", "parent")]  # p-5 is a relative
    assert recipients(db, "t-1", day) == [("t-1", "self")]  # staff
    assert recipients(db, "p-1", day) == []  # contacts are not program subjects


def test_eighteenth_birthday_moves_notices_to_the_student(db, tmp_path):
    import_roster(db.engine, write_export(tmp_path / "x"), date(2021, 1, 4))
    assert recipients(db, "s-3", date(2021, 6, 29)) == [("p-3", "parent")]
    assert recipients(db, "s-3", date(2021, 6, 30)) == [("s-3", "self")]
    assert recipients(db, "s-3", date(2021, 11, 22)) == [("s-3", "self")]


def test_contacts_json_fields(db, tmp_path):
    import_roster(db.engine, write_export(tmp_path / "x"), date(2021, 1, 4))
    with db.engine.connect() as conn:
        (only,) = authorized_recipients(conn, date(2021, 11, 22), ["s-1"])
    assert only.as_dict() == {"id": "p-1", "name": "Ana García", "address": "ana.garcia@example.net",
                              "language": "es", "relation": "parent"}


def test_address_of_a_denied_contact_is_never_used_even_by_an_allowed_contact(db, tmp_path):
    users = sample_users()
    users["p-2"]["email"] = "ANA.GARCIA@example.net"  # the denied guardian shares the parent's address
    import_roster(db.engine, write_export(tmp_path / "x", users=list(users.values())), date(2021, 1, 4))
    assert recipients(db, "s-1", date(2021, 11, 22)) == []
    assert recipients(db, "s-2", date(2021, 11, 22)) == [("p-1", "parent")]  # p-2 is not s-2's contact


def test_subject_marked_deny_gets_nobody(db, tmp_path):
    users = sample_users()
    users["s-4"]["metadata.healthNotices"] = "deny"
    users["t-1"]["metadata.healthNotices"] = "DENY"
    import_roster(db.engine, write_export(tmp_path / "x", users=list(users.values())), date(2021, 1, 4))
    assert recipients(db, "s-4", date(2021, 11, 22)) == []
    assert recipients(db, "t-1", date(2021, 11, 22)) == []


def test_student_without_birth_date_counts_as_a_minor(db, tmp_path):
    demographics = [row for row in read_sample("demographics.csv") if row["sourcedId"] != "s-3"]
    import_roster(db.engine, write_export(tmp_path / "x", demographics=demographics), date(2021, 1, 4))
    assert recipients(db, "s-3", date(2021, 11, 22)) == [("p-3", "parent")]


def test_links_listed_on_either_side_only(db, tmp_path):
    users = sample_users()
    users["s-1"]["agentSourcedIds"] = ""  # only p-1's row lists s-1 now
    users["p-4"]["agentSourcedIds"] = ""  # only s-4's row lists p-4 now
    import_roster(db.engine, write_export(tmp_path / "x", users=list(users.values())), date(2021, 1, 4))
    assert recipients(db, "s-1", date(2021, 11, 22)) == [("p-1", "parent")]
    assert recipients(db, "s-4", date(2021, 11, 22)) == [("p-4", "parent")]


def test_unlinked_parent_gets_nothing(db, tmp_path):
    users = sample_users()
    users["s-4"]["agentSourcedIds"] = "p-5"
    users["p-4"]["agentSourcedIds"] = ""
    import_roster(db.engine, write_export(tmp_path / "x", users=list(users.values())), date(2021, 1, 4))
    assert recipients(db, "s-4", date(2021, 11, 22)) == []


def test_guardian_and_parent_both_receive_and_ext_roles_get_nothing(db, tmp_path):
    users = sample_users()
    users["p-2"]["metadata.healthNotices"] = ""
    users["t-1"]["role"] = "ext:volunteer"
    import_roster(db.engine, write_export(tmp_path / "x", users=list(users.values())), date(2021, 1, 4))
    assert recipients(db, "s-1", date(2021, 11, 22)) == [("p-1", "parent"), ("p-2", "guardian")]
    assert recipients(db, "t-1", date(2021, 11, 22)) == []


def test_parent_without_email_is_listed_without_address(db, tmp_path):
    users = sample_users()
    users["p-4"]["email"] = ""
    import_roster(db.engine, write_export(tmp_path / "x", users=list(users.values())), date(2021, 1, 4))
    with db.engine.connect() as conn:
        (only,) = authorized_recipients(conn, date(2021, 11, 22), ["s-4"])
    assert (only.recipient_id, only.address) == ("p-4", None)


def test_oneroster_12_roles_and_their_dates(db, tmp_path):
    users = [dict(row, role="") for row in read_sample("users.csv")]
    roles = []
    for n, row in enumerate(read_sample("users.csv")):
        role = {"sourcedId": f"r-{n}", "userSourcedId": row["sourcedId"], "roleType": "primary",
                "role": row["role"], "orgSourcedId": row["orgSourcedIds"].split(",")[0]}
        if row["sourcedId"] == "p-4":
            role["endDate"] = "2021-11-30"  # custody ends
        roles.append(role)
    # t-1 is also the parent of s-4 (secondary role): a staff member who is a parent.
    roles.append({"sourcedId": "r-x", "userSourcedId": "t-1", "roleType": "secondary", "role": "parent",
                  "orgSourcedId": "sch-2"})
    for user in users:
        if user["sourcedId"] == "s-4":
            user["agentSourcedIds"] = "p-4,p-5,t-1"
    import_roster(db.engine, write_export(tmp_path / "x", users=users, roles=roles, version="1.2"),
                  date(2021, 1, 4))
    assert recipients(db, "s-4", date(2021, 11, 30)) == [("p-4", "parent"), ("t-1", "parent")]
    assert recipients(db, "s-4", date(2021, 12, 1)) == [("t-1", "parent")]
    assert recipients(db, "t-1", date(2021, 12, 1)) == [("t-1", "self")]


def test_whole_district_query_equals_per_subject_queries(db, tmp_path):
    import_roster(db.engine, write_export(tmp_path / "x"), date(2021, 1, 4))
    day = date(2021, 11, 22)
    with db.engine.connect() as conn:
        everyone = [(r.subject_id, r.recipient_id) for r in authorized_recipients(conn, day)]
        one_by_one = [(r.subject_id, r.recipient_id)
                      for sid in ["s-1", "s-2", "s-3", "s-4", "t-1", "p-1", "p-2", "p-3", "p-4", "p-5"]
                      for r in authorized_recipients(conn, day, [sid])]
    assert everyone == sorted(one_by_one)
    assert len(everyone) == 5


def test_born_by_for_age_handles_leap_days():
    assert born_by_for_age(date(2026, 2, 28), 18) == date(2008, 2, 28)
    assert born_by_for_age(date(2028, 2, 29), 18) == date(2010, 2, 28)
    assert born_by_for_age(date(2021, 6, 30), 18) == date(2003, 6, 30)


def test_leap_day_baby_turns_18_on_march_first_in_common_years(db, tmp_path):
    demographics = read_sample("demographics.csv")
    for row in demographics:
        if row["sourcedId"] == "s-4":
            row["birthDate"] = "2008-02-29"
    import_roster(db.engine, write_export(tmp_path / "x", demographics=demographics), date(2021, 1, 4))
    assert recipients(db, "s-4", date(2026, 2, 28)) == [("p-4", "parent")]
    assert recipients(db, "s-4", date(2026, 3, 1)) == [("s-4", "self")]


def test_many_ids_go_through_a_temporary_table_with_the_same_answer(db, tmp_path):
    """Thousands of subject ids (a district's day) take another path than a few; the answer is the same."""
    from schoolpass.roster.authorization import authorized_pairs, notice_addresses

    import_roster(db.engine, write_export(tmp_path / "x"), date(2021, 1, 4))
    on = date(2021, 11, 22)
    real = ["s-1", "s-2", "s-3", "s-4", "t-1", "p-1"]
    many = real + [f"x-{n}" for n in range(2500)]
    with db.engine.connect() as conn:
        few_pairs, many_pairs = authorized_pairs(conn, on, real), authorized_pairs(conn, on, many)
        few_addresses, many_addresses = notice_addresses(conn, on, real), notice_addresses(conn, on, many)
        everyone = notice_addresses(conn, on)
    assert few_pairs == many_pairs and ("s-1", "ana.garcia@example.net") in few_pairs
    assert few_addresses == many_addresses == everyone
    assert [a.recipient_id for a in everyone["s-1"]] == ["p-1"]
