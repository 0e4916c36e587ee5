"""The README's layout section matches the tree: every module is named there, and every name is a module.

A module added, moved or removed without the README following fails here, so the map a newcomer reads
first cannot drift from the package.
"""

from __future__ import annotations

import re
from pathlib import Path

import embed_middleware
from embed_middleware._moved import MOVED_MODULES

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(embed_middleware.__file__).resolve().parent


def layout_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```", 2)[1]


def modules_in_tree() -> set[str]:
    """Every module as the README names it: ``cli.py`` at the top, ``_core/response`` below a package."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        dotted = "embed_middleware." + ".".join(relative.with_suffix("").parts)
        if dotted in MOVED_MODULES or (path.name == "__init__.py" and relative.parent != Path(".")):
            continue
        found.add(str(relative) if relative.parent == Path(".") else f"{relative.parent}/{path.stem}")
    return found


def modules_in_readme() -> set[str]:
    """Names as the block writes them: ``file.py`` anywhere, ``pkg/file.py``, or a package line
    ``  pkg/   what it is: a, b, c`` whose list (continued on deeper-indented lines) names its modules."""
    named: set[str] = set()
    package = None
    for line in layout_block().splitlines():
        head = re.match(r"  (\w+)/\s+(.*)$", line)
        if head:
            package, listing = head.group(1), head.group(2).split(":", 1)[-1] if ":" in head.group(2) else ""
        elif package and line.startswith(" " * 4):
            listing = line
        else:
            package, listing = None, ""
            for word in re.findall(r"[\w/]+\.py", line):
                named.add(word.removesuffix(".py") if "/" in word else word)
        if package:
            named.update(f"{package}/{name}" for name in re.findall(r"\w+", listing))
    return named


def test_every_module_is_in_the_readme_layout() -> None:
    missing = modules_in_tree() - modules_in_readme()
    assert not missing, f"README's Layout does not name: {sorted(missing)}"


def test_every_module_the_readme_layout_names_exists() -> None:
    tree = modules_in_tree()
    packages = {name.split("/")[0] for name in tree if "/" in name}
    ghosts = {name for name in modules_in_readme() if name not in tree and name.split("/")[0] in packages}
    ghosts |= {name for name in modules_in_readme() if name.endswith(".py") and name not in tree}
    assert not ghosts, f"README's Layout names modules that do not exist: {sorted(ghosts)}"
