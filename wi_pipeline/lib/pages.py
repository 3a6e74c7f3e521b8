"""The HTML pages the pipeline writes (the policy report, the data inventory) are Jinja templates in
``wi_pipeline/templates/``. Python hands them plain values, already in the page's language; the
templates hold every tag. Autoescaping is on for every template, so no text that comes from the
data or from a municipality can become markup."""

from __future__ import annotations

from functools import cache

import jinja2


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("wi_pipeline", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a value the page needs and was not given is an error
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_page(template: str, **context) -> str:
    """The template ``wi_pipeline/templates/<template>`` filled with ``context``."""
    return _environment().get_template(template).render(**context)
