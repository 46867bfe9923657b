"""Every ``--help`` page reads as written: no Python types, no help text eaten as markup.

Walks the real command tree, so a command or option added later is checked too.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest
import typer

from peak_trade.cli import app
from peaktrade_cli import BIN, clean_env

_BOX = re.compile(r"[│╭╮╰╯─┃━┏┓┗┛]")


def _commands() -> list[tuple[tuple[str, ...], Any]]:
    root = typer.main.get_command(app)
    found: list[tuple[tuple[str, ...], Any]] = [((), root)]
    stack: list[tuple[tuple[str, ...], Any]] = [((), root)]
    while stack:
        path, command = stack.pop()
        # a group has sub-commands (typer may vendor its own click: no isinstance)
        if isinstance(getattr(command, "commands", None), dict):
            for name, sub in command.commands.items():
                found.append(((*path, name), sub))
                stack.append(((*path, name), sub))
    return sorted(found, key=lambda item: item[0])


def _flat(text: str) -> str:
    return " ".join(_BOX.sub(" ", text).split())


def _plain(help_text: str) -> str:
    """A help string as the user should read it: Rich escapes (``\\[``) undone."""
    return _flat(help_text.replace("\\[", "["))


COMMANDS = _commands()


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS, ids=[" ".join(p) or "peaktrade" for p, _ in COMMANDS]
)
def test_help_page_shows_every_help_text_and_no_python_types(
    path: tuple[str, ...], command: Any
) -> None:
    env = clean_env(COLUMNS="200", NO_COLOR="1", TERM="dumb")
    out = subprocess.run(
        [str(BIN), *path, "--help"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    page = _flat(out.stdout)
    for python_type in ("<bool>", "<str>", "<int>", "<float>", "<list[", "<Path>"):
        assert python_type not in page, f"{' '.join(path)} --help shows {python_type}: {page}"
    if command.help:
        first = command.help.strip().split("\n\n", 1)[0]
        assert _plain(first) in page, f"summary eaten: {first!r} not in {page!r}"
    for param in command.params:
        text = getattr(param, "help", None)
        if text:
            assert _plain(text) in page, f"help of {param.name} eaten: {text!r} not in {page!r}"
