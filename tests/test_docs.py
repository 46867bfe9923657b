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
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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
    for shipped in SHIPPED:
        link = tmp_path / shipped
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(ROOT / shipped)
    (tmp_path / "page.py").write_text(script, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEAK_TRADE_")}
    out = subprocess.run(
        [sys.executable, "page.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    failure = f"{page.name} failed:\n{out.stderr[-4000:]}\n--- script ---\n{script}"
    assert out.returncode == 0, failure
