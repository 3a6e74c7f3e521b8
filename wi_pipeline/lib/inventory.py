"""The data inventory for client councils: which data is used, why, for how long, who sees what.

Written for a reader without technical background, in Dutch and English. It is generated from the
landing contract and the pipeline's own list of assets, so it cannot describe data the pipeline
does not use or leave out data it does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from wi_pipeline.lib.layout import CBS_TABLES, DROPPED_AT_INGESTION, G4, REGISTERS, spoken_name
from wi_pipeline.lib.pages import render_page

# Why each source is used, in plain words: (Dutch, English).
PURPOSE = {
    "bijstand": (
        "Wie een bijstandsuitkering heeft en hoe lang. Zo weten we wie er meedoet en of iemand "
        "de uitkering verlaat.",
        "Who receives social assistance and for how long: who takes part and whether someone "
        "leaves benefits.",
    ),
    "ontheffingen": (
        "Wie tijdelijk geen plicht heeft om werk te zoeken, bijvoorbeeld alleenstaande ouders "
        "met een kind onder de 5.",
        "Who is temporarily exempt from the duty to look for work, e.g. single parents with a child under 5.",
    ),
    "reintegratie": (
        "Welke hulp naar werk iemand kreeg (zoals scholing of een werkervaringsplaats) en wanneer.",
        "Which help towards work someone received (such as training or a work placement) and when.",
    ),
    "schuldhulp": (
        "Of iemand hulp bij schulden kreeg, om te zien of dat samen met hulp naar werk beter werkt.",
        "Whether someone received debt assistance, to see if it works better together with help "
        "towards work.",
    ),
    "wmo": (
        "Of iemand ondersteuning kreeg (zoals begeleiding), om rekening te houden met iemands situatie.",
        "Whether someone received social support (such as guidance), to take a person's "
        "situation into account.",
    ),
    "KOPPELTABEL": (
        "Een sleutelbestand van het CBS om gegevens van dezelfde persoon te koppelen, zonder "
        "naam of BSN te bewaren.",
        "A CBS key file to link data of the same person, without keeping a name or citizen service number.",
    ),
    "GBAPERSOONTAB": (
        "Geslacht, geboortedatum (jaar, maand en dag, voor de leeftijd) en herkomst, om te zien voor wie "
        "een aanpak beter of slechter werkt.",
        "Sex, date of birth (year, month and day, for the age) and origin, to see for whom an approach "
        "works better or worse.",
    ),
    "GBAHUISHOUDENSBUS": (
        "Samenstelling van het huishouden, zoals alleenstaande ouder en het aantal kinderen.",
        "Household composition, such as single parenthood and the number of children.",
    ),
    "KINDOUDERTAB": (
        "Wie de ouders van een kind zijn, om de leeftijd van het jongste kind te kennen.",
        "Who a child's parents are, to know the age of the youngest child.",
    ),
    "GBABURGERLIJKESTAATBUS": (
        "Burgerlijke staat (gehuwd, gescheiden, ...), om te zien voor wie iets werkt.",
        "Marital status (married, divorced, ...), to see for whom something works.",
    ),
    "SPOLISBUS": (
        "Of iemand een baan had, hoeveel uur en welk loon: dat is wat we willen verbeteren.",
        "Whether someone had a job, how many hours and what wage: this is what we want to improve.",
    ),
    "SECMBUS": (
        "De belangrijkste bron van inkomen per periode, ook in een andere gemeente.",
        "The main source of income per period, also in another municipality.",
    ),
    "ZVWZORGKOSTENTAB": (
        "Zorgkosten per jaar, als maat voor gezondheid. Geen diagnoses.",
        "Healthcare costs per year, as a measure of health. No diagnoses.",
    ),
    "PROBSCHULDTAB": (
        "Of er problematische schulden geregistreerd zijn.",
        "Whether problematic debts are registered.",
    ),
}


# The outputs that may leave the secure environment, all under disclosure control; everything
# else stays inside.
PUBLISHED = (
    "effects/effect_table",
    "effects/effect_table_g4",
    "reports/what_works_for_whom",
    "reports/assignment_rule",
    "reports/assignment_rule_g4",
    "reports/policy_report",
    "reports/policy_report_g4",
    "reports/data_inventory",
)
INTERNAL_REPORTS = ("reports/data_quality", "reports/g4_data_quality")

STEPS = {
    "registers": ("Gemeentelijke bestanden", "Municipal registers"),
    "cbs": ("CBS-tabellen", "CBS tables"),
    "linkage": ("Koppelen", "Linking"),
    "panel": ("Persoon per maand", "Person by month"),
    "effects": ("Effecten", "Effects"),
    "reports": ("Rapporten", "Reports"),
}

# Dutch descriptions of the tables that are not one per register or CBS table.
DUTCH_DESCRIPTION = {
    "linkage/linked_registers": (
        "Alle perioden uit de bestanden van de gemeente die aan een CBS-persoonsnummer gekoppeld "
        "zijn."
    ),
    "linkage/linkage_quarantine": (
        "Perioden die niet gekoppeld konden worden, met de reden (niet in het sleutelbestand, "
        "onbetrouwbare sleutel)."
    ),
    "linkage/linkage_rates": (
        "Per bestand: hoeveel regels er zijn, hoeveel er gekoppeld zijn en waarom de rest niet."
    ),
    "panel/linked_panel": (
        "Eén regel per persoon per maand voor iedereen met bijstand in de gemeente: uitkering, "
        "ontheffing, hulp naar werk, ondersteuning, werk, zorgkosten en schulden. Alle effecten "
        "worden hieruit berekend."
    ),
    "reports/data_quality": (
        "Rapport over de kwaliteit van de gegevens van één gemeente: wat er binnenkwam, wat er "
        "is afgekeurd en wat er veranderd is."
    ),
    "reports/g4_data_quality": (
        "Zijn de gegevens van de vier steden vergelijkbaar? Per stad naast het gemiddelde van de "
        "vier."
    ),
    "effects/effect_table": (
        "Het effect van elke aanpak in deze gemeente, voor iedereen en per groep, met de "
        "onzekerheid. Cijfers over te kleine groepen worden weggelaten."
    ),
    "effects/effect_table_g4": "Dezelfde effecten voor de vier steden samen, met grafieken.",
    "reports/what_works_for_whom": (
        "Wat werkt voor wie: per groep elke soort hulp naar werk vergeleken met nog niet "
        "beginnen, bij dezelfde mensen: hoeveel meer mensen een jaar later gewoon werk hebben "
        "(geen gesubsidieerde of beschutte plek), met de onzekerheid."
    ),
    "reports/assignment_rule": (
        "Welke hulp naar werk past bij wie: een regel met twee vragen over wat een klantmanager "
        "weet (zoals geslacht, leeftijd, gezondheid, hoe lang iemand bijstand heeft), die per "
        "groep de hulp kiest waarmee een jaar later de meeste mensen gewoon werk hebben. Met "
        "hoeveel dat oplevert tegenover de huidige werkwijze, en of de gegevens dat verschil "
        "kunnen aantonen. Groepen van minder dan 10 personen worden weggelaten."
    ),
    "reports/assignment_rule_g4": "Dezelfde regel voor de vier steden samen.",
    "reports/policy_report": (
        "Het rapport voor beleidsmakers en de gemeenteraad, in het Nederlands en Engels: wat "
        "werkt voor wie, in procentpunten, euro's of uren met de onzekerheid, en wat is "
        "weggelaten en waarom. Gemaakt uit de gepubliceerde tabellen."
    ),
    "reports/policy_report_g4": "Hetzelfde rapport voor de vier steden samen.",
    "reports/data_inventory": "Dit overzicht.",
}


@dataclass(frozen=True)
class AssetEntry:
    key: str
    group: str
    description: str


def dutch_description(key: str) -> str:
    """The plain Dutch line for one table; a table without one is an error, so none is left unexplained."""
    group, _, name = key.partition("/")
    base = name.removesuffix("_quarantine")
    if group == "registers" and base in REGISTERS:
        if name.endswith("_quarantine"):
            return (
                f"Regels uit het bestand {base} die niet aan de afspraken voldeden, met de reden en het "
                "regelnummer; met een code in plaats van het BSN."
            )
        return (
            f"{PURPOSE[base][0]} Met een code in plaats van het BSN, zonder dossiernummers en "
            "vrije tekst."
        )
    if group == "cbs" and base.upper() in CBS_TABLES:
        if name.endswith("_quarantine"):
            return (
                f"Regels uit de CBS-tabel {base.upper()} die niet gelezen of gekoppeld konden "
                "worden, met de reden."
            )
        return f"CBS-tabel {base.upper()}: {PURPOSE[base.upper()][0]}"
    if key in DUTCH_DESCRIPTION:
        return DUTCH_DESCRIPTION[key]
    raise ValueError(f"no Dutch description for the table {key}: add it to DUTCH_DESCRIPTION")


# Every field in plain words, the code after it: (Dutch, English).
FIELD_NAMES = {
    "BSN": (
        "burgerservicenummer, direct vervangen door een code",
        "citizen service number, replaced by a code at once",
    ),
    "DOSSIERNUMMER": ("dossiernummer", "case number"),
    "REGELING": ("soort uitkering", "kind of benefit"),
    "INGANGSDATUM": ("begindatum", "start date"),
    "EINDDATUM": ("einddatum", "end date"),
    "ONTHEFFING_CODE": ("soort ontheffing", "kind of exemption"),
    "VOORZIENING_CODE": ("soort hulp naar werk", "kind of help towards work"),
    "VOORZIENING_OMSCHRIJVING": ("vrije tekst van de klantmanager", "caseworker's free text"),
    "TRAJECTTYPE": ("soort schuldhulp", "kind of debt assistance"),
    "VOORZIENING": ("soort ondersteuning", "kind of support"),
    "RINPERSOONS": ("soort CBS-persoonsnummer", "kind of CBS person number"),
    "RINPERSOON": ("CBS-persoonsnummer", "CBS person number"),
    "GBAGESLACHT": ("geslacht", "sex"),
    "GBAGEBOORTEJAAR": ("geboortejaar", "year of birth"),
    "GBAGEBOORTEMAAND": ("geboortemaand", "month of birth"),
    "GBAGEBOORTEDAG": ("geboortedag", "day of birth"),
    "GBAHERKOMSTGROEPERING": ("land van herkomst", "country of origin"),
    "GBAGENERATIE": ("generatie (eerste, tweede)", "generation (first, second)"),
    "HUISHOUDNR": ("huishoudnummer", "household number"),
    "DATUMAANVANGHH": ("begindatum huishouden", "household start date"),
    "DATUMEINDEHH": ("einddatum huishouden", "household end date"),
    "TYPHH": ("soort huishouden", "household type"),
    "PLHH": ("plaats in het huishouden", "position in the household"),
    "AANTALKINDHH": ("aantal thuiswonende kinderen", "number of children at home"),
    "GEBJAARJONGSTEKINDHH": ("geboortejaar jongste kind", "birth year of the youngest child"),
    "GEBMAANDJONGSTEKINDHH": ("geboortemaand jongste kind", "birth month of the youngest child"),
    "RINPERSOONSMa": ("soort persoonsnummer van de moeder", "kind of person number of the mother"),
    "RINPERSOONMa": ("persoonsnummer van de moeder", "person number of the mother"),
    "RINPERSOONSpa": ("soort persoonsnummer van de vader", "kind of person number of the father"),
    "RINPERSOONpa": ("persoonsnummer van de vader", "person number of the father"),
    "GBABURGERLIJKESTAATNW": ("burgerlijke staat", "marital status"),
    "GBADATUMAANVANGBURGERLIJKESTAAT": (
        "begindatum burgerlijke staat",
        "start date of the marital status",
    ),
    "GBADATUMEINDEBURGERLIJKESTAAT": (
        "einddatum burgerlijke staat",
        "end date of the marital status",
    ),
    "IKVID": ("nummer van de baan", "job number"),
    "SBEID": ("nummer van de werkgever", "employer number"),
    "SDATUMAANVANGIKO": ("begindatum van de periode", "start date of the period"),
    "SDATUMEINDEIKO": ("einddatum van de periode", "end date of the period"),
    "SBASISLOON": ("loon", "wage"),
    "SBASISUREN": ("betaalde uren", "paid hours"),
    "SCONTRACTSOORT": ("vast of tijdelijk contract", "open-ended or fixed-term contract"),
    "SPOLISDIENSTVERBAND": ("voltijd of deeltijd", "full-time or part-time"),
    "AANVSECM": ("begindatum", "start date"),
    "EINDSECM": ("einddatum", "end date"),
    "SECM": (
        "belangrijkste bron van inkomen (werk, uitkering, ...)",
        "main source of income (work, benefit, ...)",
    ),
    "JAAR": ("jaar", "year"),
    "ZVWKHUISARTS": ("kosten huisarts", "GP costs"),
    "ZVWKFARMACIE": ("kosten medicijnen", "pharmacy costs"),
    "ZVWKZIEKENHUIS": ("kosten ziekenhuis", "hospital costs"),
    "ZVWKGGZ": ("kosten geestelijke gezondheidszorg", "mental healthcare costs"),
    "ZVWKEERSTELIJNSPSYCHO": ("kosten psycholoog (eerste lijn)", "primary-care psychologist costs"),
    "PEILDATUM": ("peildatum", "reference date"),
    "PROBSCHULDPERS": ("problematische schulden van de persoon", "problematic debt of the person"),
    "PROBSCHULDHH": (
        "problematische schulden van het huishouden",
        "problematic debt of the household",
    ),
}
MONTHS_NL = (
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
)


def _fields(columns) -> dict | None:
    """'geslacht (GBAGESLACHT), ...' in Dutch and in English."""
    unknown = [c for c in columns if c not in FIELD_NAMES]
    if unknown:
        raise ValueError(
            f"no plain name for the field(s) {', '.join(unknown)}: add them to FIELD_NAMES"
        )
    if not columns:
        return None
    return {
        "nl": ", ".join(f"{FIELD_NAMES[c][0]} ({c})" for c in columns),
        "en": ", ".join(f"{FIELD_NAMES[c][1]} ({c})" for c in columns),
    }


def _cities(language: int) -> str:
    names = [spoken_name(gm, language) for gm in G4]
    return f"{', '.join(names[:-1])} {('en', 'and')[language]} {names[-1]}"


def _asset_rows(assets: list[AssetEntry]) -> list[dict]:
    return [
        {
            "step": " / ".join(STEPS.get(a.group, (a.group,))),
            "key": a.key,
            "dutch": dutch_description(a.key),
            "english": a.description,
            "published": a.key in PUBLISHED,
        }
        for a in sorted(assets, key=lambda a: (a.group, a.key))
    ]


def inventory_html(
    assets: list[AssetEntry], retention_days: int, min_units: int = 10, as_of: date | None = None
) -> str:
    missing = [name for name in [*REGISTERS, *CBS_TABLES] if name not in PURPOSE]
    if missing:
        raise ValueError(f"no plain-language purpose for: {', '.join(missing)}")
    as_of = as_of or date.today()
    registers = [
        {
            "name": name,
            "purpose": PURPOSE[name],
            "used": _fields([c for c in layout.columns if c not in DROPPED_AT_INGESTION]),
            "dropped": _fields([c for c in layout.columns if c in DROPPED_AT_INGESTION]),
        }
        for name, layout in REGISTERS.items()
    ]
    cbs = [
        {"name": name, "purpose": PURPOSE[name], "fields": _fields(list(layout.columns))}
        for name, layout in CBS_TABLES.items()
    ]
    return render_page(
        "data_inventory.html",
        as_of=f"{as_of.day} {MONTHS_NL[as_of.month - 1]} {as_of.year} / {as_of:%d %B %Y}",
        cities_nl=_cities(0),
        cities_en=_cities(1),
        min_units=min_units,
        retention_days=retention_days,
        internal_reports=INTERNAL_REPORTS,
        registers=registers,
        cbs_tables=cbs,
        published=_asset_rows([a for a in assets if a.key in PUBLISHED]),
        internal=_asset_rows([a for a in assets if a.key not in PUBLISHED]),
    )
