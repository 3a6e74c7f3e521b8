"""The landing-folder contract as Markdown, generated from layout.py for the README and the inventory."""

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
    out.append("**CBS tables** (`<landing>/CBS/<TABLE>.parquet`):\n")
    out.append("| table | columns read |\n|---|---|")
    out += [
        f"| `{t.name}` | {', '.join(f'`{c}`' for c in t.columns)} |" for t in CBS_TABLES.values()
    ]
    return "\n".join(out)


if __name__ == "__main__":
    print(landing_contract_markdown())
