"""The shared sample roster, loaded into a test database, with lab results written to order."""

from __future__ import annotations

from pathlib import Path

from schoolpass.results.importer import import_results
from schoolpass.roster.importer import import_roster
from tests.results.files import person, simplereport
from tests.roster.exports import SAMPLE

# The sample's people as a lab would name them: (roster id, lab patient id, first, last, birth date).
PEOPLE = {
    "s-1": ("900001", "María", "García", "04/02/2013"),
    "s-2": ("900002", "Luis", "García", "09/17/2011"),
    "s-3": ("900003", "Thao", "Nguyen", "06/30/2003"),
    "s-4": ("900004", "Jide", "Okafor", "01/11/2006"),
    "t-1": ("E7001", "Karen", "White", "02/14/1980"),
}
ZONE = "America/Los_Angeles"


def load_roster(engine, as_of="2021-08-01", path: Path = SAMPLE) -> None:
    from datetime import date

    import_roster(engine, path, date.fromisoformat(as_of))


def load_results(engine, tmp_path: Path, results: list[tuple[str, str, str]], name="results.csv",
                 at: str = "08:00") -> None:
    """results: (roster id, result text, collection day as MM/DD/YYYY), collected at `at` (HH:MM) that day."""
    from zoneinfo import ZoneInfo

    rows = []
    for n, (who, result, day) in enumerate(results):
        lab_id, first, last, dob = PEOPLE[who]
        rows.append(person(lab_id, first, last, dob, f"T-{name}-{n}", test_result=result,
                           specimen_collection_date=f"{day} {at}", test_result_date=f"{day} 09:00",
                           order_test_date=day, testing_lab_specimen_received_date=day,
                           date_result_released=day, test_result_status="F"))
    path = simplereport(tmp_path / name, rows)
    import_results(engine, path, "auto", ZoneInfo(ZONE))


def correct_custody(engine, tmp_path: Path, as_of="2021-11-01") -> None:
    """The SIS corrects s-1's record from `as_of` (backdated): p-1 was never hers; a new guardian p-6 is."""
    from datetime import date

    from schoolpass.roster.importer import import_roster
    from tests.roster.exports import read_sample, write_export

    users = read_sample("users.csv")
    for user in users:
        if user["sourcedId"] == "s-1":
            user["agentSourcedIds"] = "p-2,p-6"
        if user["sourcedId"] == "p-1":
            user["agentSourcedIds"] = "s-2"
    users.append({**next(u for u in users if u["sourcedId"] == "p-4"), "sourcedId": "p-6", "givenName": "Rosa",
                  "familyName": "Vega", "email": "rosa.vega@example.net", "agentSourcedIds": "s-1",
                  "role": "guardian", "metadata.language": "es"})
    import_roster(engine, write_export(tmp_path / f"corrected-{as_of}", users=users), date.fromisoformat(str(as_of)))
