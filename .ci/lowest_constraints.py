"""Print a pip constraints file pinning every runtime dependency to its lowest allowed version.

`make test-oldest` installs peak-trade[dev] with these constraints, so the suite
runs on the oldest releases pyproject.toml claims to support (the test tools
themselves resolve as usual).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

pyproject = tomllib.loads(Path(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml").read_text())
for requirement in pyproject["project"]["dependencies"]:
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)$", requirement)
    if match is None:
        sys.exit(f"cannot parse requirement {requirement!r}")
    name, _extras, spec = match.groups()
    lowest = re.search(r">=\s*([^,;\s]+)", spec)
    if lowest is None:
        sys.exit(f"{name}: no lower bound (>=) in {requirement!r}; every dependency needs one")
    print(f"{name}=={lowest.group(1)}")
