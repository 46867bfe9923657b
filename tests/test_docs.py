"""Every Python block in README.md and docs/*.md runs, as written.

Each page is one script: its ```python blocks, in page order, run top to bottom
in a fresh interpreter whose working directory is a temporary folder laid out
like a checkout's root, as a reader of a fresh clone sees it: the shipped
example config and sample files are there (linked, read-only), and ``var/``,
``cache/`` and ``config/peaktrade.toml`` start out absent.
A page may declare setup that the reader does not need to see, in an HTML
comment that Markdown does not render::

    <!-- setup
    candles = ...        # whatever the visible blocks take as given
    -->

Setup comments run where they stand, between the visible blocks. Redis URLs
in a page (``redis://localhost:6379/0``, ``redis://redis:6379/0``) are pointed
at the test session's private ``redis-server``; nothing else is rewritten.

Command lines run too, in the same kind of folder:

* in a ```bash block, every line that starts with ``peaktrade`` must exit 0;
* in any block, a transcript line ``$ peaktrade ...`` (a trailing backslash continues it) is
  run, and the lines after it, up to the next ``$``, must appear in what it
  printed (whitespace, including the page's line wrapping, is not compared;
  ``...`` stands for anything, as in doctest's ELLIPSIS).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from peaktrade_cli import BIN, clean_env

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
_BLOCK = re.compile(
    r"^```python[ \t]*\n(?P<code>.*?)^```[ \t]*$|^<!--[ \t]*setup[ \t]*\n(?P<setup>.*?)^-->[ \t]*$",
    re.S | re.M,
)
# what a page may read from the checkout, relative to its root
SHIPPED = ("config/peaktrade.example.toml", "tests/data/samples")
_REDIS_URL = re.compile(r"redis://(?:[^@/\s\"']*@)?[A-Za-z0-9_.\-]+:6379")


def script_of(page: Path) -> str:
    """The page's setup comments and Python blocks, in order, as one script."""
    parts = []
    text = page.read_text(encoding="utf-8")
    for match in _BLOCK.finditer(text):
        line = text.count("\n", 0, match.start()) + 2
        kind = "setup" if match["setup"] is not None else "block"
        code = match["setup"] if match["setup"] is not None else match["code"]
        parts.append(f"# --- {page.name}:{line} ({kind})\n{code}")
    return "\n".join(parts)


_FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```[ \t]*$", re.S | re.M)


def commands_of(page: Path) -> list[tuple[list[str], str | None]]:
    """``(argv, expected output or None)`` for every command line the page shows."""
    found: list[tuple[list[str], str | None]] = []
    for fence in _FENCE.finditer(page.read_text(encoding="utf-8")):
        body = fence["body"].replace("\\\n", " ")
        if fence["info"].strip() == "bash":
            for line in body.splitlines():
                if line.startswith("peaktrade "):
                    found.append((shlex.split(line, comments=True), None))
        for transcript in re.split(r"^(?=\$ )", body, flags=re.M):
            if transcript.startswith("$ peaktrade "):
                command, _, output = transcript[2:].partition("\n")
                found.append((shlex.split(command, comments=True), output))
    return found


def _checkout_like(folder: Path) -> None:
    for shipped in SHIPPED:
        link = folder / shipped
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(ROOT / shipped)


def _env() -> dict[str, str]:
    return clean_env(COLUMNS="200", NO_COLOR="1", TERM="dumb")


PAGES_WITH_COMMANDS = [p for p in PAGES if commands_of(p)]


@pytest.mark.parametrize("page", PAGES_WITH_COMMANDS, ids=lambda p: p.name)
def test_page_commands_run_as_shown(page: Path, tmp_path: Path) -> None:
    _checkout_like(tmp_path)
    for argv, expected in commands_of(page):
        out = subprocess.run(
            [str(BIN), *argv[1:]],
            cwd=tmp_path,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        shown = " ".join(argv)
        if expected is None:
            assert out.returncode == 0, (
                f"{page.name}: {shown} exited {out.returncode}: {out.stderr}"
            )
        else:
            printed = " ".join((out.stdout + out.stderr).split())
            pieces = [re.escape(part.strip()) for part in " ".join(expected.split()).split("...")]
            assert re.search(r" ?.*? ?".join(pieces), printed, re.S), (
                f"{page.name}: {shown} printed\n{out.stdout}{out.stderr}\nnot\n{expected}"
            )


PAGES_WITH_CODE = [p for p in PAGES if "```python" in p.read_text(encoding="utf-8")]


def test_every_page_with_python_is_collected() -> None:
    assert {p.name for p in PAGES_WITH_CODE} >= {"README.md"}
    for page in PAGES_WITH_CODE:
        assert script_of(page).count("(block)") == page.read_text(encoding="utf-8").count(
            "```python"
        ), f"{page.name}: a ```python block the extractor missed (fence not at line start?)"


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda p: p.name)
def test_page_runs_as_written(page: Path, tmp_path: Path, redis_url: str) -> None:
    host_port = redis_url.split("://", 1)[1].split("/", 1)[0]
    script = _REDIS_URL.sub(f"redis://{host_port}", script_of(page))
    _checkout_like(tmp_path)
    (tmp_path / "page.py").write_text(script, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "page.py"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    failure = f"{page.name} failed:\n{out.stderr[-4000:]}\n--- script ---\n{script}"
    assert out.returncode == 0, failure
