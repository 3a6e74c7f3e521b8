"""The landing-folder contract as Markdown, generated from layout.py for the README and the inventory."""

from wi_pipeline.lib.cbs_delivery import delivery_rules
from wi_pipeline.lib.layout import CBS_TABLES, REGISTERS


def landing_contract_markdown() -> str:
    out = []
    for layout in REGISTERS.values():
        out.append(f"**`{layout.name}`**: {layout.description}\n")
        out.append("| column | meaning |\n|---|---|")
        out += [f"| `{c}` | {m} |" for c, m in layout.columns.items()]
        if layout.codes:
            out.append(
                "\nCodes in `{}`: {}.".format(
                    layout.code_column, "; ".join(f"`{k}` {v}" for k, v in layout.codes.items())
                )
            )
        elif layout.code_column:
            out.append(
                f"\nCodes in `{layout.code_column}`: each municipality's own, mapped to SRG categories in "
                "`wi_pipeline/reference/srg_mapping.csv`."
            )
        out.append("")
    out.append(
        "**CBS tables**, as CBS delivers them, in `<landing>/CBS/<TABLE>/` (`.sav`, or a `.csv` or "
        "`.parquet` copy; the highest version of each year; names per table in "
        "`wi_pipeline/reference/cbs_deliveries.csv`), or as one `<landing>/CBS/<TABLE>.parquet`:\n"
    )
    out.append("| table | file names | years | columns read |\n|---|---|---|---|")
    rules = delivery_rules()
    for t in CBS_TABLES.values():
        rule = rules[t.name]
        names = " or ".join(f"`{n}`" for n in rule.file_names)
        years = "every year, stacked" if rule.kind == "yearly" else "the newest year"
        out.append(f"| `{t.name}` | {names} | {years} | {', '.join(f'`{c}`' for c in t.columns)} |")
    return "\n".join(out)


if __name__ == "__main__":
    print(landing_contract_markdown())
