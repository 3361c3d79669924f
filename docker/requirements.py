"""Print evana's requirements for the given extras, from pyproject.toml, one per line.

The image installs them in a layer of their own, before the source is copied in, so a change
to the code rebuilds one small layer instead of downloading every dependency again:

    python docker/requirements.py pyproject.toml server cli > requirements.txt
"""

from __future__ import annotations

import re
import sys
import tomllib
from typing import Any


def requirements(project: dict[str, Any], extras: list[str]) -> list[str]:
    """The base dependencies plus each extra's, self-references (``evana[all]``) expanded."""
    name = str(project["name"])
    optional = project.get("optional-dependencies", {})
    out: list[str] = list(project.get("dependencies", []))
    seen: set[str] = set()
    todo = list(extras)
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in optional[extra]:
            own = re.fullmatch(rf"{re.escape(name)}\[([^\]]+)\]", requirement.replace(" ", ""))
            if own:
                todo.extend(own.group(1).split(","))
            elif requirement not in out:
                out.append(requirement)
    return out


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as file:
        wanted = requirements(tomllib.load(file)["project"], sys.argv[2:])
    sys.stdout.write("".join(f"{line}\n" for line in wanted))
