"""The landing-folder contract: which files arrive, where, and with which columns.

One place that the synthetic generator, ingestion, the README and the data inventory all read,
so the contract cannot drift between them.

Municipal registers arrive as ``<landing>/<GM code>/<register>/<YYYYMMDD>.csv``: semicolon
separated, UTF-8, Dutch column names, dates as dd-mm-yyyy, an empty end date for a spell that is
still open. All G4 cities export from the same benefits system (Socrates), so the layout is shared;
only local instrument codes differ (see ``reference/srg_mapping.csv``).

CBS tables arrive as CBS delivers them, in ``<landing>/CBS/<TABLE>/``: SPSS ``.sav`` files (or
``.csv``/``.parquet`` copies) named by stem, year and version, e.g. ``SPOLISBUS2019V2.sav``, chosen
as ``reference/cbs_deliveries.csv`` says (``lib/cbs_delivery.py``); the older single
``<landing>/CBS/<TABLE>.parquet`` still works. CBS names and codings: person key RINPERSOONS +
RINPERSOON (9-character text), dates as 8-character text YYYYMMDD.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

G4: dict[str, str] = {
    "GM0363": "Amsterdam",
    "GM0599": "Rotterdam",
    "GM0518": "'s-Gravenhage",
    "GM0344": "Utrecht",
}
# City names as people say them (Dutch, English): the municipality of 's-Gravenhage is Den Haag.
SPOKEN_NAMES = {"'s-Gravenhage": ("Den Haag", "The Hague")}


def spoken_name(gemeente: str, language: int = 0) -> str:
    """A G4 municipality's name as people say it, in Dutch (0) or English (1)."""
    name = G4.get(gemeente, gemeente)
    return SPOKEN_NAMES.get(name, (name, name))[language]


PILOT_MUNICIPALITY = "GM0599"

CSV_SEPARATOR = ";"
CSV_ENCODING = "utf-8"
REGISTER_DATE_FORMAT = "%d-%m-%Y"
# An end date far in the future written by systems that cannot leave a date empty: read as an open end.
OPEN_END_DATES = ("31-12-9999", "99991231")
CBS_FOLDER = "CBS"
EXTRACT_NAME_FORMAT = "%Y%m%d"  # the file name of an extract is its extraction date

# The re-integration instrument categories of the CBS statistics on re-integration (SRG).
SRG_CATEGORIES: tuple[str, ...] = (
    "loonkostensubsidie",  # wage-cost subsidy
    "scholing",  # training
    "werkervaringsplaats",  # work-experience placement
    "jobcoach",  # job coaching
    "proefplaatsing",  # trial placement
    "sociale_activering",  # social activation
    "bemiddeling",  # job mediation
    "beschut_werk",  # sheltered work
)
# Instruments whose placement is itself a job (subsidised by the municipality, or sheltered): a job
# held while one of them runs is not regular work, which is what a municipality wants to reach.
SUBSIDISED_JOB_INSTRUMENTS: tuple[str, ...] = ("loonkostensubsidie", "beschut_werk")

SRG_MAPPING_FILE = Path(__file__).resolve().parent.parent / "reference" / "srg_mapping.csv"

# Received in the extracts but never kept: the BSN (replaced by the pseudonym), the case number and
# the caseworker's free text, which the analyses do not need and which can name a person.
DROPPED_AT_INGESTION = ("BSN", "DOSSIERNUMMER", "VOORZIENING_OMSCHRIJVING")


@dataclass(frozen=True)
class RegisterLayout:
    """One municipal register export: its folder name, columns and allowed codes."""

    name: str
    description: str
    columns: dict[str, str]  # column -> plain-words meaning
    code_column: str | None = None
    codes: dict[str, str] = field(default_factory=dict)  # code -> meaning ({} = local codes)
    start_column: str = "INGANGSDATUM"
    end_column: str = "EINDDATUM"

    @property
    def required_columns(self) -> list[str]:
        return list(self.columns)


_SPELL = {
    "INGANGSDATUM": "start date of the spell (dd-mm-yyyy)",
    "EINDDATUM": "end date of the spell (dd-mm-yyyy); empty while the spell is still running",
}

REGISTERS: dict[str, RegisterLayout] = {
    "bijstand": RegisterLayout(
        name="bijstand",
        description="Social assistance benefits (bijstand, Participatiewet) and the related "
        "IOAW/IOAZ benefits, one row per benefit spell.",
        columns={
            "BSN": "citizen service number of the claimant (9 digits)",
            "DOSSIERNUMMER": "the municipality's case number",
            "REGELING": "benefit scheme code",
            **_SPELL,
        },
        code_column="REGELING",
        codes={
            "PW": "bijstand under the Participatiewet",
            "IOAW": "income provision for older, partially disabled unemployed workers",
            "IOAZ": "income provision for older, formerly self-employed persons",
        },
    ),
    "ontheffingen": RegisterLayout(
        name="ontheffingen",
        description="Exemptions from the duty to find and accept work, one row per exemption spell.",
        columns={
            "BSN": "citizen service number of the person exempted",
            "ONTHEFFING_CODE": "kind of exemption",
            **_SPELL,
        },
        code_column="ONTHEFFING_CODE",
        codes={
            "ART9A": "art. 9a Participatiewet: single parent with full care of a child under 5, on request",
            "ART9_DRINGEND": "art. 9 lid 2: temporary exemption for urgent reasons (e.g. health)",
        },
    ),
    "reintegratie": RegisterLayout(
        name="reintegratie",
        description="Re-integration provisions (instruments), one row per provision spell, in local codes.",
        columns={
            "BSN": "citizen service number of the participant",
            "VOORZIENING_CODE": "the municipality's own code of the instrument (mapped to SRG categories)",
            "VOORZIENING_OMSCHRIJVING": "free-text description entered by the caseworker",
            **_SPELL,
        },
        code_column="VOORZIENING_CODE",
        codes={},  # local codes: see SRG_MAPPING_FILE
    ),
    "schuldhulp": RegisterLayout(
        name="schuldhulp",
        description="Debt assistance (schuldhulpverlening) trajectories, one row per trajectory.",
        columns={
            "BSN": "citizen service number of the client",
            "TRAJECTTYPE": "kind of debt assistance",
            **_SPELL,
        },
        code_column="TRAJECTTYPE",
        codes={
            "STABILISATIE": "stabilisation of income and expenses",
            "BUDGETBEHEER": "budget management by the municipality",
            "SCHULDREGELING": "amicable debt settlement with creditors",
        },
    ),
    "wmo": RegisterLayout(
        name="wmo",
        description="Social support under the WMO 2015 (Wet maatschappelijke ondersteuning), one "
        "row per provision.",
        columns={
            "BSN": "citizen service number of the client",
            "VOORZIENING": "kind of support",
            **_SPELL,
        },
        code_column="VOORZIENING",
        codes={
            "BEGELEIDING": "individual guidance",
            "DAGBESTEDING": "day activities",
            "HUISHOUDELIJKE_HULP": "help with the household",
            "HULPMIDDEL": "aids and home adaptations",
        },
    ),
}


@dataclass(frozen=True)
class CbsTableLayout:
    name: str
    description: str
    columns: dict[str, str]  # column -> meaning; all text unless listed in numeric_columns
    numeric_columns: tuple[str, ...] = ()
    holds_bsn: bool = False
    # Numbers that cannot be negative where they are used: a row with a negative value is quarantined
    # at ingestion with the column named, so no later step meets it (the suite then expects none).
    non_negative_columns: tuple[str, ...] = ()


_RIN = {
    "RINPERSOONS": "kind of person key; only 'R' links reliably",
    "RINPERSOON": "CBS person number (9-character text)",
}

CBS_TABLES: dict[str, CbsTableLayout] = {
    "KOPPELTABEL": CbsTableLayout(
        "KOPPELTABEL",
        "Key file held by CBS: BSN to RINPERSOON. Pseudonymised on the way in; the BSN never "
        "leaves ingestion.",
        {"BSN": "citizen service number", **_RIN},
        holds_bsn=True,
    ),
    "GBAPERSOONTAB": CbsTableLayout(
        "GBAPERSOONTAB",
        "Persons in the population register: sex, date of birth, origin.",
        {
            **_RIN,
            "GBAGESLACHT": "sex: '1' man, '2' woman, '-' unknown",
            "GBAGEBOORTEJAAR": "year of birth (YYYY)",
            "GBAGEBOORTEMAAND": "month of birth (MM)",
            "GBAGEBOORTEDAG": "day of birth (DD)",
            "GBAHERKOMSTGROEPERING": "country of origin (4-digit CBS country code)",
            "GBAGENERATIE": "generation: '0' Dutch origin, '1' first, '2' second generation",
        },
    ),
    "GBAHUISHOUDENSBUS": CbsTableLayout(
        "GBAHUISHOUDENSBUS",
        "Household membership spells: household type, position, number and age of children.",
        {
            **_RIN,
            "HUISHOUDNR": "household number",
            "DATUMAANVANGHH": "start of the spell (YYYYMMDD)",
            "DATUMEINDEHH": "end of the spell (YYYYMMDD)",
            "TYPHH": "household type: 1 one-person, 2/3 couple without children, 4/5 couple with "
            "children, 6 single-parent, 7 other, 8 institutional",
            "PLHH": "position: 1 child at home, 2 single, 3-6 partner, 7 parent in single-parent "
            "household, 8-10 other",
            "AANTALKINDHH": "number of children at home",
            "GEBJAARJONGSTEKINDHH": "birth year of the youngest child at home",
            "GEBMAANDJONGSTEKINDHH": "birth month of the youngest child at home",
        },
    ),
    "KINDOUDERTAB": CbsTableLayout(
        "KINDOUDERTAB",
        "Links children to their legal parents ('---------' when a parent is unknown).",
        {
            **_RIN,
            "RINPERSOONSMa": "key kind of the mother",
            "RINPERSOONMa": "CBS person number of the mother",
            "RINPERSOONSpa": "key kind of the father",
            "RINPERSOONpa": "CBS person number of the father",
        },
    ),
    "GBABURGERLIJKESTAATBUS": CbsTableLayout(
        "GBABURGERLIJKESTAATBUS",
        "Marital-status spells.",
        {
            **_RIN,
            "GBABURGERLIJKESTAATNW": "marital status: 'O' never married, 'H' married or "
            "registered partner, 'G' divorced, 'W' widowed",
            "GBADATUMAANVANGBURGERLIJKESTAAT": "start of the spell (YYYYMMDD)",
            "GBADATUMEINDEBURGERLIJKESTAAT": "end of the spell (YYYYMMDD)",
        },
    ),
    "SPOLISBUS": CbsTableLayout(
        "SPOLISBUS",
        "Jobs from the payroll tax register: one row per job per payroll period.",
        {
            **_RIN,
            "IKVID": "job identifier",
            "SBEID": "employer identifier",
            "SDATUMAANVANGIKO": "start of the period (YYYYMMDD)",
            "SDATUMEINDEIKO": "end of the period (YYYYMMDD)",
            "SBASISLOON": "base wage in the period (euro); a negative wage (a correction) is quarantined",
            "SBASISUREN": "paid hours in the period; negative hours are quarantined",
            "SCONTRACTSOORT": "contract: 'O' open-ended, 'B' fixed-term",
            "SPOLISDIENSTVERBAND": "'1' full-time, '2' part-time",
        },
        numeric_columns=("SBASISLOON", "SBASISUREN"),
        non_negative_columns=("SBASISLOON", "SBASISUREN"),
    ),
    "SECMBUS": CbsTableLayout(
        "SECMBUS",
        "Socio-economic category spells.",
        {
            **_RIN,
            "AANVSECM": "start of the spell (YYYYMMDD)",
            "EINDSECM": "end of the spell (YYYYMMDD)",
            "SECM": "category: 11 employee, 13 self-employed, 21 unemployment benefit, 22 social "
            "assistance, 24 sickness/disability, 26 other benefit, 31 pupil/student, 32 "
            "other without income",
        },
    ),
    "ZVWZORGKOSTENTAB": CbsTableLayout(
        "ZVWZORGKOSTENTAB",
        "Yearly healthcare costs under the health insurance act (euro; negative corrections occur).",
        {
            **_RIN,
            "JAAR": "calendar year (YYYY); CBS ships one table per year, stacked here",
            "ZVWKHUISARTS": "general practitioner",
            "ZVWKFARMACIE": "pharmacy",
            "ZVWKZIEKENHUIS": "hospital",
            "ZVWKGGZ": "specialist mental health care",
            "ZVWKEERSTELIJNSPSYCHO": "primary-care psychologist",
        },
        numeric_columns=(
            "ZVWKHUISARTS",
            "ZVWKFARMACIE",
            "ZVWKZIEKENHUIS",
            "ZVWKGGZ",
            "ZVWKEERSTELIJNSPSYCHO",
        ),
    ),
    "PROBSCHULDTAB": CbsTableLayout(
        "PROBSCHULDTAB",
        "Registered problematic debt at a yearly reference date (table name assumed; configurable).",
        {
            **_RIN,
            "PEILDATUM": "reference date (YYYYMMDD, 1 January)",
            "PROBSCHULDPERS": "'1' the person has registered problematic debt",
            "PROBSCHULDHH": "'1' the household has registered problematic debt",
        },
    ),
}

MARITAL_STATUS = {"O": "never_married", "H": "married", "G": "divorced", "W": "widowed"}
SECM_CATEGORIES = {
    "11": "employee",
    "13": "self_employed",
    "21": "unemployment_benefit",
    "22": "social_assistance",
    "24": "sickness_disability",
    "26": "other_benefit",
    "31": "pupil_student",
    "32": "other_without_income",
}
# 4-digit CBS country codes grouped into the origin groups reported (codes *unverified*).
ORIGIN_GROUPS = {
    "6030": "Nederland",
    "5022": "Marokko",
    "6043": "Turkije",
    "5007": "Suriname",
    "5095": "Caribisch_NL",
}
ORIGIN_OTHER = "overig"

# What each column of the stored registers, linked registers and panel holds: the Columns table of
# each asset in the Dagster UI (the README's panel table says the same at more length).
COLUMN_DESCRIPTIONS = {
    "gemeente": "CBS municipality code (GM0363 Amsterdam, GM0599 Rotterdam, GM0518 Den Haag, GM0344 Utrecht)",
    "pseudo_id": "keyed pseudonym of the person (HMAC of the BSN); never published",
    "register": "the municipal register the spell comes from",
    "RINPERSOON": "CBS person number the pseudonym links to (RINPERSOONS R)",
    "code": "the spell's code after harmonisation (benefit scheme, exemption, SRG category, debt "
    "or WMO kind)",
    "start": "first day of the spell",
    "end": "last day of the spell (inclusive); empty while it runs",
    "extract_date": "date of the extract the spell comes from (the file name's YYYYMMDD)",
    "month": "first day of the month",
    "age": "completed years on the first day of the month (GBAPERSOONTAB)",
    "sex": "man / vrouw (GBAPERSOONTAB)",
    "origin": "origin group from GBAHERKOMSTGROEPERING",
    "marital_status": "never_married, married, divorced, widowed (GBABURGERLIJKESTAATBUS)",
    "household_type": "TYPHH as a label; unknown where TYPHH is empty (GBAHUISHOUDENSBUS)",
    "single_parent": "TYPHH 6 and PLHH 7: the parent in a single-parent household",
    "n_children": "children at home, AANTALKINDHH",
    "youngest_child_age_months": "completed months of the youngest child born by the first day of the month",
    "on_bijstand": "a benefit spell (PW, IOAW, IOAZ) in this municipality overlaps the month",
    "bijstand_duration_months": "months since the start of the current run of benefit months (0 "
    "in its first)",
    "exemption_9a": "an art. 9a exemption overlaps the month",
    "debt_assistance": "a debt-assistance trajectory overlaps the month",
    "wmo_support": "a WMO provision overlaps the month",
    "employed": "a SPOLISBUS job period overlaps the month",
    "hours": "paid hours in the month (SBASISUREN spread over each period's months)",
    "wage": "base wage in the month in euros (SBASISLOON spread over each period's months)",
    "secm": "socio-economic category (SECMBUS) as a label",
    "care_costs_total": "healthcare costs of the calendar year in euros; empty when no component is known",
    "care_costs_mental": "ZVWKGGZ + ZVWKEERSTELIJNSPSYCHO of the calendar year in euros",
    "problematic_debt": "registered problematic debt at the year's reference date; empty when unknown",
    "poor_health": "healthcare costs in the first window year at or above the threshold; empty when unknown",
    "self_sufficient": "not on bijstand here and not in SECM 22 elsewhere",
    # labour-market history up to the month before (designs.add_history), stored with the panel;
    # where the window holds no earlier month the value is the panel mean
    "employed_l1": "employed the month before (0/1)",
    "employed_l2": "employed two months before (0/1)",
    "employed_l3": "employed three months before (0/1)",
    "employed_share_12": "share of the previous 12 months (within the window) employed",
    "employed_share_24": "share of the previous 24 months (within the window) employed",
    "months_since_first_bijstand": "months since the first month on bijstand in the window (negative before)",
    **{
        f"instr_{c}": f"an instrument of SRG category {c} overlaps the month"
        for c in SRG_CATEGORIES
    },
    **{
        f"months_since_start_{c}": f"months since the latest {c} spell started; empty before the first"
        for c in SRG_CATEGORIES
    },
}
