"""HTML pages from the package's Jinja2 templates (faceops/templates): the report, the admin console, the sheet of
unknown faces. One environment for all, so that every value is escaped the same way."""

from __future__ import annotations

from typing import Any


def render_page(template: str, **context: Any) -> str:  # noqa: ANN401 - any value a template shows
    """`template` (a file of faceops/templates) rendered with `context`; every value escaped, an undefined one an
    error (a typo in a template fails its test rather than showing nothing)."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("faceops", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    return environment.get_template(template).render(**context)
