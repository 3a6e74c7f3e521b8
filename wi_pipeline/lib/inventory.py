"""The data inventory for client councils: which data is used, why, for how long, who sees what.

Written for a reader without technical background, in Dutch and English. It is generated from the
landing contract and the pipeline's own list of assets, so it cannot describe data the pipeline
does not use or leave out data it does.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from wi_pipeline.lib.layout import CBS_TABLES, DROPPED_AT_INGESTION, G4, REGISTERS

# Why each source is used, in plain words: (Dutch, English).
PURPOSE = {
    "bijstand": ("Wie een bijstandsuitkering heeft en hoe lang. Zo weten we wie er meedoet en of iemand de uitkering verlaat.",
                 "Who receives social assistance and for how long: who takes part and whether someone leaves benefits."),
    "ontheffingen": ("Wie tijdelijk geen plicht heeft om werk te zoeken, bijvoorbeeld alleenstaande ouders met een kind onder de 5.",
                     "Who is temporarily exempt from the duty to look for work, e.g. single parents with a child under 5."),
    "reintegratie": ("Welke hulp naar werk iemand kreeg (zoals scholing of een werkervaringsplaats) en wanneer.",
                     "Which help towards work someone received (such as training or a work placement) and when."),
    "schuldhulp": ("Of iemand hulp bij schulden kreeg, om te zien of dat samen met hulp naar werk beter werkt.",
                   "Whether someone received debt assistance, to see if it works better together with help towards work."),
    "wmo": ("Of iemand ondersteuning kreeg (zoals begeleiding), om rekening te houden met iemands situatie.",
            "Whether someone received social support (such as guidance), to take a person's situation into account."),
    "KOPPELTABEL": ("Een sleutelbestand van het CBS om gegevens van dezelfde persoon te koppelen, zonder naam of BSN te bewaren.",
                    "A CBS key file to link data of the same person, without keeping a name or citizen service number."),
    "GBAPERSOONTAB": ("Geslacht, geboortejaar en herkomst, om te zien voor wie een aanpak beter of slechter werkt.",
                      "Sex, year of birth and origin, to see for whom an approach works better or worse."),
    "GBAHUISHOUDENSBUS": ("Samenstelling van het huishouden, zoals alleenstaande ouder en het aantal kinderen.",
                          "Household composition, such as single parenthood and the number of children."),
    "KINDOUDERTAB": ("Wie de ouders van een kind zijn, om de leeftijd van het jongste kind te kennen.",
                     "Who a child's parents are, to know the age of the youngest child."),
    "GBABURGERLIJKESTAATBUS": ("Burgerlijke staat (gehuwd, gescheiden, ...), om te zien voor wie iets werkt.",
                               "Marital status (married, divorced, ...), to see for whom something works."),
    "SPOLISBUS": ("Of iemand een baan had, hoeveel uur en welk loon: dat is wat we willen verbeteren.",
                  "Whether someone had a job, how many hours and what wage: this is what we want to improve."),
    "SECMBUS": ("De belangrijkste bron van inkomen per periode, ook in een andere gemeente.",
                "The main source of income per period, also in another municipality."),
    "ZVWZORGKOSTENTAB": ("Zorgkosten per jaar, als maat voor gezondheid. Geen diagnoses.",
                         "Healthcare costs per year, as a measure of health. No diagnoses."),
    "PROBSCHULDTAB": ("Of er problematische schulden geregistreerd zijn.",
                      "Whether problematic debts are registered."),
}


# The outputs that may leave the secure environment, all under disclosure control; everything else stays inside.
PUBLISHED = ("effects/effect_table", "effects/effect_table_g4", "reports/what_works_for_whom", "reports/assignment_rule",
             "reports/assignment_rule_g4", "reports/data_inventory")
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
    "linkage/linked_registers": "Alle perioden uit de bestanden van de gemeente die aan een CBS-persoonsnummer gekoppeld zijn.",
    "linkage/linkage_quarantine": "Perioden die niet gekoppeld konden worden, met de reden (niet in het sleutelbestand, "
                                  "onbetrouwbare sleutel).",
    "linkage/linkage_rates": "Per bestand: hoeveel regels er zijn, hoeveel er gekoppeld zijn en waarom de rest niet.",
    "panel/linked_panel": "Eén regel per persoon per maand voor iedereen met bijstand in de gemeente: uitkering, "
                          "ontheffing, hulp naar werk, ondersteuning, werk, zorgkosten en schulden. Alle effecten "
                          "worden hieruit berekend.",
    "reports/data_quality": "Rapport over de kwaliteit van de gegevens van één gemeente: wat er binnenkwam, wat er "
                            "is afgekeurd en wat er veranderd is.",
    "reports/g4_data_quality": "Zijn de gegevens van de vier steden vergelijkbaar? Per stad naast het gemiddelde van "
                               "de vier.",
    "effects/effect_table": "Het effect van elke aanpak in deze gemeente, voor iedereen en per groep, met de "
                            "onzekerheid. Cijfers over te kleine groepen worden weggelaten.",
    "effects/effect_table_g4": "Dezelfde effecten voor de vier steden samen, met grafieken.",
    "reports/what_works_for_whom": "Wat werkt voor wie: per groep elke soort hulp naar werk vergeleken met nog "
                                   "niet beginnen, bij dezelfde mensen: hoeveel meer mensen een jaar later gewoon "
                                   "werk hebben (geen gesubsidieerde of beschutte plek), met de onzekerheid.",
    "reports/assignment_rule": "Welke hulp naar werk past bij wie: een regel met twee vragen over wat een "
                               "klantmanager weet (zoals geslacht, leeftijd, gezondheid, hoe lang iemand bijstand "
                               "heeft), die per groep de hulp kiest waarmee een jaar later de meeste mensen gewoon "
                               "werk hebben. Met hoeveel dat oplevert tegenover de huidige werkwijze, en of de "
                               "gegevens dat verschil kunnen aantonen. Groepen van minder dan 10 personen worden "
                               "weggelaten.",
    "reports/assignment_rule_g4": "Dezelfde regel voor de vier steden samen.",
    "reports/data_inventory": "Dit overzicht.",
}


@dataclass(frozen=True)
class AssetEntry:
    key: str
    group: str
    description: str


def _e(text: str) -> str:
    return html.escape(text, quote=False)


def dutch_description(key: str) -> str:
    """The plain Dutch line for one table; a table without one is an error, so none is left unexplained."""
    group, _, name = key.partition("/")
    base = name.removesuffix("_quarantine")
    if group == "registers" and base in REGISTERS:
        if name.endswith("_quarantine"):
            return (f"Regels uit het bestand {base} die niet aan de afspraken voldeden, met de reden en het "
                    "regelnummer; met een code in plaats van het BSN.")
        return f"{PURPOSE[base][0]} Met een code in plaats van het BSN, zonder dossiernummers en vrije tekst."
    if group == "cbs" and base.upper() in CBS_TABLES:
        if name.endswith("_quarantine"):
            return f"Regels uit de CBS-tabel {base.upper()} die niet gelezen of gekoppeld konden worden, met de reden."
        return f"CBS-tabel {base.upper()}: {PURPOSE[base.upper()][0]}"
    if key in DUTCH_DESCRIPTION:
        return DUTCH_DESCRIPTION[key]
    raise ValueError(f"no Dutch description for the table {key}: add it to DUTCH_DESCRIPTION")


def _who_sees(key: str, min_units: int) -> str:
    if key in PUBLISHED:
        return f"Gepubliceerd (groepen van minstens {min_units}) / Published (groups of at least {min_units})"
    return "Intern, in de beveiligde omgeving / Internal, in the secure environment"


def inventory_html(assets: list[AssetEntry], retention_days: int, min_units: int = 10) -> str:
    missing = [name for name in [*REGISTERS, *CBS_TABLES] if name not in PURPOSE]
    if missing:
        raise ValueError(f"no plain-language purpose for: {', '.join(missing)}")
    cities = ", ".join(G4.values())
    rows_reg = "\n".join(
        f"<tr><td>{_e(name)}</td><td>{_e(PURPOSE[name][0])}</td><td>{_e(PURPOSE[name][1])}</td>"
        f"<td>{_e(', '.join(c for c in layout.columns if c not in DROPPED_AT_INGESTION))}</td>"
        f"<td>{_e(', '.join(c for c in layout.columns if c in DROPPED_AT_INGESTION))}</td></tr>"
        for name, layout in REGISTERS.items()
    )
    rows_cbs = "\n".join(
        f"<tr><td>{_e(name)}</td><td>{_e(PURPOSE[name][0])}</td><td>{_e(PURPOSE[name][1])}</td>"
        f"<td>{_e(', '.join(c for c in layout.columns if c not in ('RINPERSOONS', 'RINPERSOON', 'BSN')))}</td></tr>"
        for name, layout in CBS_TABLES.items()
    )
    rows_assets = "\n".join(
        f"<tr><td>{_e(' / '.join(STEPS.get(a.group, (a.group,))))}</td><td><code>{_e(a.key)}</code></td>"
        f"<td>{_e(dutch_description(a.key))}</td><td>{_e(a.description)}</td><td>{_e(_who_sees(a.key, min_units))}</td></tr>"
        for a in sorted(assets, key=lambda a: (a.group, a.key))
    )
    internal = ", ".join(f"<code>{_e(k)}</code>" for k in INTERNAL_REPORTS)
    return f"""<!doctype html>
<html lang="nl"><head><meta charset="utf-8"><title>Welke gegevens gebruiken we? / Which data do we use?</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.5}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .5em;vertical-align:top}}
h2{{margin-top:2em}}.en{{color:#345}}</style></head><body>
<h1>Welke gegevens gebruiken we, en hoe beschermen we ze?</h1>
<p class="en"><em>Which data do we use, and how do we protect it?</em></p>

<h2>Waarom / Why</h2>
<p>De gemeenten {_e(cities)} willen weten welke hulp naar werk het beste werkt, en voor wie.
Daarvoor bekijken we gegevens van mensen met een bijstandsuitkering. We kijken nooit naar één persoon:
we tellen alleen groepen.</p>
<p class="en">The municipalities of {_e(cities)} want to know which help towards work works best, and for whom.
To learn this we look at data about people on social assistance. We never look at one person: we only count groups.</p>

<h2>Hoe we uw privacy beschermen / How we protect your privacy</h2>
<ul>
<li>Uw burgerservicenummer (BSN) wordt direct bij binnenkomst vervangen door een code. Die code kan zonder een geheime
sleutel niet worden teruggerekend. De sleutel staat niet bij de gegevens en niet in de computercode.<br>
<span class="en">Your citizen service number (BSN) is replaced by a code as soon as the data arrives. Without a secret key
the code cannot be turned back. The key is kept apart from the data and the program.</span></li>
<li>We gebruiken geen namen of adressen. Dossiernummers en vrije tekst van de klantmanager zitten wel in de bestanden
van de gemeente, maar worden direct bij binnenkomst verwijderd (zie de tabellen hieronder).<br>
<span class="en">We use no names or addresses. Case numbers and free text written by caseworkers are in the municipal
files, but are dropped as soon as the data arrives (see the tables below).</span></li>
<li>We publiceren alleen cijfers over groepen van minstens {min_units} personen, en nooit de hoogste of laagste waarde
van één persoon. Kleinere groepen worden weggelaten, ook als je ze zou kunnen uitrekenen door twee cijfers van elkaar af te trekken.
Wat gepubliceerd wordt, staat in de laatste tabel.<br>
<span class="en">We publish only figures about groups of at least {min_units} people, never the highest or lowest value of one person.
Smaller groups are left out, also when they could be worked out by subtracting two figures. The last table shows what is published.</span></li>
<li>De rapporten over de kwaliteit van de gegevens ({internal}) zijn interne werkdocumenten voor de data-engineers,
binnen de beveiligde omgeving. Ze kunnen aantallen van minder dan {min_units} personen bevatten en worden niet gepubliceerd.<br>
<span class="en">The data-quality reports ({internal}) are internal working documents for the data engineers, inside the
secure environment. They may hold counts of fewer than {min_units} people and are not published.</span></li>
<li>Elke keer dat de verwerking draait, controleert het programma zelf of er geen BSN of code in de uitkomsten staat.<br>
<span class="en">Every time the processing runs, the program itself checks that no BSN or code appears in the results.</span></li>
</ul>

<h2>Wie ziet wat / Who sees what</h2>
<table><tr><th>Wie / Who</th><th>Ziet / Sees</th></tr>
<tr><td>Gemeente (afdeling werk en inkomen) / Municipality</td><td>Alleen de eigen gegevens, zoals nu al. / Only its own data, as today.</td></tr>
<tr><td>Data-engineers van het project / Project data engineers</td><td>Gecodeerde gegevens (zonder BSN) en de interne rapporten over de kwaliteit van de gegevens, in de beveiligde omgeving, om fouten te vinden. / Coded data (no BSN) and the internal data-quality reports, in the secure environment, to find errors.</td></tr>
<tr><td>Onderzoekers / Researchers</td><td>Gecodeerde gegevens in een beveiligde omgeving; alleen groepscijfers mogen naar buiten. / Coded data in a secure environment; only group figures may leave it.</td></tr>
<tr><td>Beleidsmakers, cliëntenraden, iedereen / Policy staff, client councils, everyone</td><td>Alleen groepscijfers van minstens {min_units} personen. / Only figures about groups of at least {min_units} people.</td></tr>
</table>

<h2>Hoe lang / How long</h2>
<p>De bestanden die de gemeente aanlevert (met BSN) worden {retention_days} dagen na verwerking verwijderd. Alleen een
bestand waarvan precies deze inhoud verwerkt is, wordt verwijderd; een bestand dat nog niet verwerkt is, blijft staan.</p>
<p class="en">The files the municipality delivers (with BSN) are deleted {retention_days} days after processing. Only a
file whose exact content was processed is deleted; a file not yet processed stays.</p>
<p>De gecodeerde gegevens (zonder BSN) blijven in de beveiligde omgeving zolang het onderzoek loopt, want alle uitkomsten
worden daaruit opnieuw berekend. Van elk bestand bewaren we alleen de nieuwste levering: de gecodeerde versie van een
nieuw bestand vervangt de vorige. Ze worden niet na een vaste termijn vanzelf gewist: de data-engineers wissen ze
allemaal aan het einde van het onderzoek, en ook als de geheime sleutel vervangen wordt (dan wordt alles opnieuw gemaakt
met de nieuwe sleutel).</p>
<p class="en">The coded data (no BSN) stays in the secure environment for as long as the research runs, because every
result is recomputed from it. Of each file only the latest delivery is kept: the coded version of a new file replaces the
previous one. It is not deleted automatically after a fixed period: the data engineers delete all of it at the end of
the research, and also when the secret key is replaced (everything is then made again with the new key).</p>

<h2>Gegevens van de gemeente / Municipal data</h2>
<p>Sommige gegevens zitten wel in de bestanden, maar worden bij binnenkomst verwijderd. Het BSN wordt eerst vervangen
door een code.
<span class="en">Some fields are in the files but are dropped on arrival. The BSN is first replaced by a code.</span></p>
<table><tr><th>Bestand / File</th><th>Waarvoor</th><th>What for</th><th>Gebruikt / Used</th>
<th>Bij binnenkomst verwijderd / Dropped on arrival</th></tr>
{rows_reg}</table>

<h2>Gegevens van het CBS / Statistics Netherlands data</h2>
<table><tr><th>Tabel / Table</th><th>Waarvoor</th><th>What for</th><th>Welke gegevens / Which fields</th></tr>
{rows_cbs}</table>

<h2>Alle tussenstappen / Every step in the processing</h2>
<p>Voor wie het precies wil weten: dit zijn alle tabellen die de verwerking maakt.
<span class="en">For those who want the details: every table the processing makes.</span></p>
<table><tr><th>Stap / Step</th><th>Tabel / Table</th><th>Beschrijving</th><th>Description</th><th>Wie ziet het / Who sees it</th></tr>
{rows_assets}</table>
</body></html>
"""
