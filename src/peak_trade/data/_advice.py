"""Advice that names options, written once for both audiences: Python callers and the CLI.

An error the user can fix by passing an option carries its advice as a template
in ``context["fix"]``, with each option written as ``{name=value}``::

    "pass {tz=UTC} if the timestamps are UTC"

:func:`render_python` turns it into the error's ``hint`` (``tz='UTC'``); the
command line renders the same template with its flags (``--tz UTC``), so a CLI
user is never told to call Python. Names are :func:`read_ohlcv` /
:func:`validate_ohlcv` keywords; ``{column=FIELD=NAME}`` stands for
``columns={FIELD: NAME}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

__all__ = ["FIX_TOKEN", "fix_context", "render", "render_python"]

FIX_TOKEN: Final = re.compile(r"\{([a-z_]+)=([^{}]*)\}")
"""One option in a template: group 1 the keyword, group 2 the value as text."""

_BARE: Final = frozenset({"True", "False", "None"})


def _python(name: str, value: str) -> str:
    if name == "column":
        field, _, source = value.partition("=")
        return f"columns={{{field!r}: {source!r}}}"
    if value in _BARE or re.fullmatch(r"-?[0-9]+", value):
        return f"{name}={value}"
    return f"{name}={value!r}"


def render(template: str, option: Callable[[str, str], str]) -> str:
    """``template`` with every ``{name=value}`` replaced by ``option(name, value)``."""
    return FIX_TOKEN.sub(lambda m: option(m.group(1), m.group(2)), template)


def render_python(template: str) -> str:
    """The template as advice to a Python caller: ``{tz=UTC}`` -> ``tz='UTC'``."""
    return render(template, _python)


def fix_context(template: str, context: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The ``hint`` and ``context`` of an error whose advice is ``template``."""
    return render_python(template), {**context, "fix": template}
