"""How one synthetic lab result is written: SimpleReport CSV row, HL7 v2.5.1 ORU^R01, FHIR R4 entries.

The layouts copy the samples in ``/work/shared/samples/results/``: the full
SimpleReport bulk-upload column set in its header order; HL7 segments
MSH/SFT/PID/ORC/OBR/OBX/SPM with the sample's field positions (segments end
with CR, messages with LF); a FHIR ``collection`` Bundle holding a Patient
and an Observation per result.

Times are district-local (America/Los_Angeles) wall-clock times, kept as
``(date ordinal, minute of day)`` pairs; the UTC offset of each date comes
from zoneinfo.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

TZ = ZoneInfo("America/Los_Angeles")

SIMPLEREPORT_HEADER = (
    "patient_id", "patient_last_name", "patient_first_name", "patient_middle_name",
    "patient_street", "patient_street2", "patient_city", "patient_state", "patient_zip_code",
    "patient_county", "patient_phone_number", "patient_dob", "patient_sex", "patient_race",
    "patient_ethnicity", "patient_preferred_language", "patient_email", "accession_number",
    "equipment_model_name", "test_performed_code", "test_result", "order_test_date",
    "specimen_collection_date", "testing_lab_specimen_received_date", "test_result_date",
    "date_result_released", "specimen_type", "ordering_provider_id", "ordering_provider_last_name",
    "ordering_provider_first_name", "ordering_provider_middle_name", "ordering_provider_street",
    "ordering_provider_street2", "ordering_provider_city", "ordering_provider_state",
    "ordering_provider_zip_code", "ordering_provider_phone_number", "testing_lab_clia",
    "testing_lab_name", "testing_lab_street", "testing_lab_street2", "testing_lab_city",
    "testing_lab_state", "testing_lab_zip_code", "testing_lab_phone_number", "pregnant",
    "employed_in_healthcare", "symptomatic_for_disease", "illness_onset_date",
    "resident_congregate_setting", "residence_type", "hospitalized", "icu",
    "ordering_facility_name", "ordering_facility_street", "ordering_facility_street2",
    "ordering_facility_city", "ordering_facility_state", "ordering_facility_zip_code",
    "ordering_facility_phone_number", "comment", "test_result_status",
)

RNA = "94500-6"
ANTIGEN = "94558-4"
FLU_PANEL = "95941-1"
FLU_A = "92142-9"
LOINC_NAMES = {
    RNA: "SARS-CoV-2 (COVID-19) RNA [Presence] in Respiratory specimen by NAA with probe detection",
    ANTIGEN: "SARS-CoV-2 (COVID-19) Ag [Presence] in Respiratory specimen by Rapid immunoassay",
    FLU_PANEL: ("Influenza virus A and B and SARS-CoV-2 (COVID-19) and Respiratory syncytial virus "
                "RNA panel - Respiratory specimen by NAA with probe detection"),
    FLU_A: "Influenza virus A RNA [Presence] in Respiratory specimen by NAA with probe detection",
}
SNOMED_NAMES = {
    "260373001": "Detected", "260415000": "Not detected", "10828004": "Positive",
    "260385009": "Negative", "419984006": "Inconclusive",
}
# Result code per (lab coding style, value). Style "detected": RNA labs; "positive": antigen sites
# and one RNA lab that reports Positive/Negative.
RESULT_CODES = {
    ("detected", "P"): "260373001", ("detected", "N"): "260415000", ("detected", "I"): "419984006",
    ("positive", "P"): "10828004", ("positive", "N"): "260385009", ("positive", "I"): "419984006",
}
RESULT_TEXTS = {
    ("detected", "P"): "Detected", ("detected", "N"): "Not Detected", ("detected", "I"): "invalid result",
    ("positive", "P"): "Positive", ("positive", "N"): "Negative", ("positive", "I"): "invalid result",
}
SPECIMEN = ("697989009", "Anterior nares swab")
CLIA_OID = "2.16.840.1.113883.4.7"
DISTRICT_OID = "2.16.840.1.113883.3.9999.2"  # assigning authority of district ids (as the sample)
ACCESSION_SYSTEM = "urn:oid:2.16.840.1.113883.3.9999.3"

# (SimpleReport race, HL7 PID-10) by race index; ethnicity is separate.
RACES = (
    ("unknown", "UNK^Unknown^NULLFL"),
    ("native", "1002-5^American Indian or Alaska Native^HL70005"),
    ("asian", "2028-9^Asian^HL70005"),
    ("black", "2054-5^Black or African American^HL70005"),
    ("pacific", "2076-8^Native Hawaiian or Other Pacific Islander^HL70005"),
    ("white", "2106-3^White^HL70005"),
    ("other", "2131-1^Other Race^HL70005"),
)


@dataclass(frozen=True)
class Lab:
    clia: str
    name: str
    accession_prefix: str
    test_code: str  # RNA or ANTIGEN
    coding: str  # "detected" | "positive": which SNOMED codes the lab reports
    equipment: str
    app: str  # HL7 MSH-3 sending application
    vendor: str  # HL7 SFT-1
    mrn_prefix: str  # "" = the lab sends only the district id in PID-3 / Patient.identifier
    multiplex: float  # share of its HL7 messages that are flu+COVID panels
    street: str
    city: str
    zip_code: str
    phone: str


LABS = (
    Lab("05D0000001", "Pacific Reference Laboratory", "ACC", RNA, "detected", "cobas SARS-CoV-2 Test",
        "LABSYS", "Sample Lab Systems", "", 0.0, "2400 Ocean Park Blvd", "Santa Monica", "90405",
        "310-555-0140"),
    Lab("05D0000003", "Golden State Diagnostics", "GSD", RNA, "detected", "TaqPath COVID-19 Combo Kit",
        "GSDLIS", "GSD Informatics", "GS", 0.0, "1200 Avenue of the Stars", "Los Angeles", "90067",
        "310-555-0162"),
    Lab("05D0000004", "Coastal Molecular Laboratory", "CML", RNA, "positive",
        "Panther Fusion SARS-CoV-2/Flu A/B/RSV Assay", "CMLHUB", "Coastal LIS", "", 0.4,
        "880 Harbor Blvd", "San Pedro", "90731", "424-555-0117"),
    Lab("05D0000002", "PCUSD School Testing Program", "SITE", ANTIGEN, "positive",
        "BinaxNOW COVID-19 Ag Card", "SITEAPP", "SimpleSite", "", 0.0, "333 S Beaudry Ave",
        "Los Angeles", "90017", "213-555-0121"),
    Lab("05D0000005", "Harbor Mobile Testing", "HMT", ANTIGEN, "positive",
        "BD Veritor System for Rapid Detection of SARS-CoV-2", "HMTMOBILE", "Harbor Mobile", "", 0.0,
        "1 Harbor Way", "Los Angeles", "90001", "213-555-0199"),
)
RNA_LABS = tuple(i for i, lab in enumerate(LABS) if lab.test_code == RNA)
ANTIGEN_LABS = tuple(i for i, lab in enumerate(LABS) if lab.test_code == ANTIGEN)


@dataclass(frozen=True)
class Site:
    """A school as a testing site: who orders, who performs, where."""

    name: str
    street: str
    zip_code: str
    phone: str  # 213-555-01NN
    provider_npi: str
    provider_family: str
    provider_given: str
    lab: int  # index into LABS


class Record:
    """One result as a lab reports it (names and ids as the lab has them)."""

    __slots__ = ("pid", "mrn", "given", "middle", "family", "dob", "sex", "race", "site", "lab",
                 "value", "text", "coll", "recv", "res", "sent", "status", "acc", "order", "ctrl",
                 "flu", "flu_value")

    def __init__(self, pid, mrn, given, middle, family, dob, sex, race, site, lab, value, text,
                 coll, recv, res, sent, status, acc, order, ctrl, flu, flu_value):
        self.pid = pid  # patient id as sent ("" = none)
        self.mrn = mrn  # the lab's own patient number ("" = none)
        self.given, self.middle, self.family = given, middle, family
        self.dob = dob  # YYYY-MM-DD
        self.sex = sex  # "F" | "M"
        self.race = race  # race index * 2 + hispanic
        self.site, self.lab = site, lab
        self.value = value  # "P" | "N" | "I"
        self.text = text  # SimpleReport: write this text instead of the code ("" = code)
        self.coll, self.recv, self.res, self.sent = coll, recv, res, sent  # (ordinal, minute)
        self.status = status  # "F" | "C"
        self.acc, self.order, self.ctrl = acc, order, ctrl
        self.flu = flu  # 0 none, 1 flu OBX after the COVID one, 2 before
        self.flu_value = flu_value

    def copy(self) -> Record:
        return Record(*(getattr(self, s) for s in self.__slots__))


def _offsets(dt: datetime) -> tuple[str, str]:
    """("-0800", "-08:00") for a district-local wall-clock time."""
    minutes = int(TZ.utcoffset(dt).total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hh, mm = divmod(abs(minutes), 60)
    return f"{sign}{hh:02d}{mm:02d}", f"{sign}{hh:02d}:{mm:02d}"


class Clock:
    """Cached per-date strings for the three formats; UTC offsets from zoneinfo."""

    def __init__(self) -> None:
        self._days: dict[int, tuple] = {}

    def day(self, ordinal: int) -> tuple:
        """(MM/DD/YYYY, YYYYMMDD, YYYY-MM-DD, -0800, -08:00, switch) - switch: DST changes that day."""
        got = self._days.get(ordinal)
        if got is None:
            d = date.fromordinal(ordinal)
            first = _offsets(datetime(d.year, d.month, d.day))
            last = _offsets(datetime(d.year, d.month, d.day, 23, 59))
            got = self._days[ordinal] = (
                f"{d.month:02d}/{d.day:02d}/{d.year}", f"{d.year}{d.month:02d}{d.day:02d}", d.isoformat(),
                *last, first != last,
            )
        return got

    def _offset(self, d: tuple, t: tuple[int, int], i: int) -> str:
        if not d[5]:
            return d[i]
        day = date.fromordinal(t[0])
        return _offsets(datetime(day.year, day.month, day.day, t[1] // 60, t[1] % 60))[i - 3]

    def csv(self, t: tuple[int, int]) -> str:
        return f"{self.day(t[0])[0]} {t[1] // 60:02d}:{t[1] % 60:02d}"

    def hl7(self, t: tuple[int, int]) -> str:
        d = self.day(t[0])
        return f"{d[1]}{t[1] // 60:02d}{t[1] % 60:02d}00{self._offset(d, t, 3)}"

    def fhir(self, t: tuple[int, int]) -> str:
        d = self.day(t[0])
        return f"{d[2]}T{t[1] // 60:02d}:{t[1] % 60:02d}:00{self._offset(d, t, 4)}"


def shift(t: tuple[int, int], minutes: int) -> tuple[int, int]:
    days, minute = divmod(t[1] + minutes, 1440)
    return (t[0] + days, minute)


_HL7_SPECIAL = str.maketrans({"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"})


def esc(text: str) -> str:
    """HL7 v2 escaping of the delimiter characters (names seldom have any)."""
    if "|" in text or "^" in text or "&" in text or "~" in text or "\\" in text:
        return text.translate(_HL7_SPECIAL)
    return text


def _dob_mdy(dob: str) -> str:
    return f"{dob[5:7]}/{dob[8:10]}/{dob[:4]}" if dob else ""


class Renderer:
    """Turns Records into CSV rows, HL7 messages and FHIR entry lines."""

    def __init__(self, sites: list[Site], district_code: str, uuid_prefix: str) -> None:
        self.sites = sites
        self.district_code = district_code
        self.clock = Clock()
        self.uuid_prefix = uuid_prefix  # "xxxxxxxx-xxxx-4xxx-8xxx"
        self.fhir_serial = 0
        # Columns after specimen_type that depend only on the site (and so on its lab).
        self.csv_tail = []
        self.hl7_parts = []
        for s in sites:
            lab = LABS[s.lab]
            self.csv_tail.append((
                SPECIMEN[0], s.provider_npi, s.provider_family, s.provider_given, "", s.street, "",
                "Los Angeles", "CA", s.zip_code, s.phone,
                lab.clia, lab.name, lab.street, "", lab.city, "CA", lab.zip_code, lab.phone,
                "", "N", "N", "", "N", "", "", "",
                s.name, s.street, "", "Los Angeles", "CA", s.zip_code, s.phone, "",
            ))
            area, _, num = s.phone.partition("-")
            addr = f"{esc(s.street)}^^Los Angeles^CA^{s.zip_code}"
            self.hl7_parts.append((
                f"{addr}^USA^H||^PRN^PH^^1^{area}^{num.replace('-', '')}",
                f"||||||||||||||||||{esc(s.name)}|{addr}|^WPN^PH^^1^{area}^{num.replace('-', '')}",
            ))
        self.csv_patient_addr = [
            (s.street, "", "Los Angeles", "CA", s.zip_code, "Los Angeles", s.phone) for s in sites
        ]

    # ------------------------------------------------------------- SimpleReport
    def csv_row(self, rec: Record) -> tuple:
        lab = LABS[rec.lab]
        clock = self.clock
        result = rec.text or RESULT_CODES[lab.coding, rec.value]
        race, eth = divmod(rec.race, 2)
        return (
            rec.pid, rec.family, rec.given, rec.middle, *self.csv_patient_addr[rec.site],
            _dob_mdy(rec.dob), rec.sex, RACES[race][0], "hispanic" if eth else "not_hispanic", "", "",
            rec.acc, lab.equipment, lab.test_code, result, clock.day(rec.coll[0])[0], clock.csv(rec.coll),
            clock.day(rec.recv[0])[0], clock.csv(rec.res), clock.day(rec.res[0])[0],
            *self.csv_tail[rec.site], rec.status,
        )

    # ---------------------------------------------------------------------- HL7
    def hl7_message(self, rec: Record) -> str:
        lab = LABS[rec.lab]
        clock = self.clock
        coll, res = clock.hl7(rec.coll), clock.hl7(rec.res)
        clia, lname = lab.clia, lab.name
        acc = f"{rec.acc}^{lname}^{clia}^CLIA"
        ids = []
        if rec.mrn:
            ids.append(f"{rec.mrn}^^^{lab.accession_prefix}&{clia}&CLIA^PI")
        if rec.pid:
            ids.append(f"{esc(rec.pid)}^^^{self.district_code}&{DISTRICT_OID}&ISO^MR")
        race, _ = divmod(rec.race, 2)
        patient_addr, facility = self.hl7_parts[rec.site]
        code = lab.test_code
        obr_code = FLU_PANEL if rec.flu else code
        rcode = RESULT_CODES[lab.coding, rec.value]
        obx = (f"|CWE|{code}^{LOINC_NAMES[code]}^LN||{rcode}^{SNOMED_NAMES[rcode]}^SCT||||||{rec.status}"
               f"|||{coll}|{clia}^{lname}^CLIA||||{res}")
        segs = [
            f"MSH|^~\\&|{lab.app}^2.16.840.1.113883.3.9999.1^ISO|{lname}^{clia}^CLIA|SCHOOLPASS|"
            f"{self.district_code}|{clock.hl7(rec.sent)}||ORU^R01^ORU_R01|{rec.ctrl}|P|2.5.1|||NE|NE|USA||||"
            "PHLabReport-NoAck^ELR_Receiver^2.16.840.1.113883.9.11^ISO",
            f"SFT|{lab.vendor}|1.0|{lab.app}|1.0.0",
            f"PID|1||{'~'.join(ids)}||{esc(rec.family)}^{esc(rec.given)}^{esc(rec.middle)}^^^^L||"
            f"{rec.dob.replace('-', '')}|{rec.sex}||{RACES[race][1]}|{patient_addr}",
            f"ORC|RE|{rec.order}|{acc}{facility}",
            f"OBR|1|{rec.order}|{acc}|{obr_code}^{LOINC_NAMES[obr_code]}^LN|||{coll}|||||||||||||||{res}"
            f"|||{rec.status}",
        ]
        if rec.flu:
            fcode = RESULT_CODES["detected", rec.flu_value]
            flu = (f"|CWE|{FLU_A}^{LOINC_NAMES[FLU_A]}^LN||{fcode}^{SNOMED_NAMES[fcode]}^SCT||||||F"
                   f"|||{coll}|{clia}^{lname}^CLIA||||{res}")
            if rec.flu == 1:
                segs += (f"OBX|1{obx}", f"OBX|2{flu}")
            else:
                segs += (f"OBX|1{flu}", f"OBX|2{obx}")
        else:
            segs.append(f"OBX|1{obx}")
        segs.append(f"SPM|1|^{rec.acc}&{lname}&{clia}&CLIA||{SPECIMEN[0]}^{SPECIMEN[1]}^SCT|||||||||||||"
                    f"{coll}|{clock.hl7(rec.recv)}")
        return "\r".join(segs) + "\r\n"

    # --------------------------------------------------------------------- FHIR
    def fhir_entries(self, rec: Record) -> str:
        """Two Bundle entries (Patient, Observation) as two JSON lines, comma-joined."""
        lab = LABS[rec.lab]
        clock = self.clock
        n = self.fhir_serial = self.fhir_serial + 1
        pat_url = f"urn:uuid:{self.uuid_prefix}-{2 * n - 1:012x}"
        obs_url = f"urn:uuid:{self.uuid_prefix}-{2 * n:012x}"
        patient = {"resourceType": "Patient", "id": f"pat-{n}"}
        ids = []
        if rec.mrn and lab.mrn_prefix:  # only labs that always send their number put it in FHIR
            ids.append({"system": f"urn:oid:2.16.840.1.113883.3.9999.4.{rec.lab + 1}", "value": rec.mrn,
                        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                             "code": "PI"}]}})
        if rec.pid:
            ids.append({"system": f"urn:oid:{DISTRICT_OID}", "value": rec.pid,
                        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                             "code": "MR"}]}})
        if ids:
            patient["identifier"] = ids
        patient["name"] = [{"family": rec.family, "given": [rec.given]}]
        patient["birthDate"] = rec.dob
        patient["gender"] = "female" if rec.sex == "F" else "male"
        rcode = RESULT_CODES[lab.coding, rec.value]
        observation = {
            "resourceType": "Observation",
            "id": f"obs-{n}",
            "status": "corrected" if rec.status == "C" else "final",
            "identifier": [{"system": ACCESSION_SYSTEM, "value": rec.acc}],
            "category": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "laboratory"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": lab.test_code,
                                 "display": LOINC_NAMES[lab.test_code]}]},
            "subject": {"reference": pat_url},
            "effectiveDateTime": clock.fhir(rec.coll),
            "issued": clock.fhir(rec.res),
            "performer": [{"identifier": {"system": f"urn:oid:{CLIA_OID}", "value": lab.clia},
                           "display": lab.name}],
            "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": rcode,
                                                 "display": SNOMED_NAMES[rcode]}]},
        }
        dumps = json.dumps
        return (dumps({"fullUrl": pat_url, "resource": patient}, ensure_ascii=False, separators=(",", ":"))
                + ",\n"
                + dumps({"fullUrl": obs_url, "resource": observation}, ensure_ascii=False,
                        separators=(",", ":")))


def fhir_bundle_open(bundle_id: str) -> str:
    return f'{{"resourceType":"Bundle","type":"collection","id":"{bundle_id}","entry":[\n'


FHIR_BUNDLE_CLOSE = "\n]}\n"
