"""MkDocs hooks: the parts of the docs site that are generated from the code, never hand-copied.

A page asks for generated text with an HTML comment on a line of its own:

* ``<!-- generated: options -->``: the middleware's options table, from :func:`render_options`;
* ``<!-- generated: bench-chart -->``: the benchmark chart, when ``docs/bench.png`` exists (``make bench``
  writes it; without it the page keeps its table and no broken image);
* ``<!-- include: CHANGELOG.md -->``: a file from the repository root, so the changelog lives once.

Hooks run inside ``mkdocs build`` (``hooks:`` in mkdocs.yml); ``python docs/hooks.py`` prints the options
table, to check it without building the site.
"""

from __future__ import annotations

import ast
import inspect
import logging
import re
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
MARKER = re.compile(r"^<!-- (generated|include): ([\w./-]+) -->$", re.MULTILINE)
log = logging.getLogger("mkdocs.hooks.embed_middleware")

#: Options every adapter passes itself rather than reading from ``**options`` (listed first, as required).
REQUIRED_FIRST = ("issuer", "resolver")


def options_source() -> Callable[..., Any] | type:
    """What the options table is generated from: the function whose keyword parameters are the
    middleware's options, or a ``TypedDict`` whose keys are. The one line to change when they move."""
    from embed_middleware.config import EmbedConfig

    return EmbedConfig._build  # the keyword parameters behind EmbedOptions, with their defaults


def doc_comments(source: str) -> dict[str, str]:
    """``name -> text`` for every ``#:`` comment in ``source``: the comment lines right above a
    parameter, field, key or assignment (``#: text`` then ``name: ...`` or ``name = ...``), or after it
    on the same line. Sphinx's convention, so the same comments serve autodoc and IDEs."""
    found: dict[str, str] = {}
    pending: list[str] = []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        match = re.match(r"(\w+)\s*[:=]", stripped)
        if match:
            inline = stripped.split("#:", 1)[1].strip() if "#:" in stripped else ""
            text = " ".join([*pending, inline]).strip()
            if text:
                found.setdefault(match.group(1), text)
        pending = []
    return found


def _options(target: Callable[..., Any] | type) -> list[tuple[str, str, str]]:
    """``(name, annotation, default)`` per option, as written in the source."""
    if isinstance(target, type):  # a TypedDict: its keys, required unless NotRequired[...]
        hints = inspect.get_annotations(target)
        return [
            (name, str(hint), "—" if "NotRequired" in str(hint) else "required")
            for name, hint in hints.items()
        ]
    tree = ast.parse(textwrap.dedent(inspect.getsource(target)))
    function = tree.body[0]
    assert isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
    source = textwrap.dedent(inspect.getsource(target))
    signature = inspect.signature(target)
    rows = []
    for arg in function.args.kwonlyargs:
        annotation = ast.get_source_segment(source, arg.annotation) if arg.annotation else ""
        value = signature.parameters[arg.arg].default
        if value is inspect.Parameter.empty:
            default = "required"
        elif value is None or isinstance(value, bool | int | float | str):
            default = repr(value)
        elif isinstance(value, tuple | frozenset) and all(isinstance(v, str) for v in value):
            default = repr(tuple(sorted(value)) if isinstance(value, frozenset) else value)
        else:
            default = type(value).__name__
        rows.append((arg.arg, annotation or "", default))
    return rows


def render_options(target: Callable[..., Any] | type | None = None) -> str:
    """The options table in Markdown: one row per option with its type, its default and the ``#:``
    comment that documents it. A comment is looked up on the option itself first (in ``target``'s own
    source), then on a same-named field or constant of ``target``'s module, then on its type (a
    ``Literal`` alias's ``#:`` comment, else the first paragraph of the class's docstring). An option
    with none is listed with "—" and named in the build's log, so the fix (a ``#:`` comment in the
    code) is obvious."""
    target = target or options_source()
    module = sys.modules[target.__module__]
    own = doc_comments(textwrap.dedent(inspect.getsource(target)))
    shared = doc_comments(inspect.getsource(module))
    rows = ["| option | type | default | what it does |", "|---|---|---|---|"]
    undocumented = []
    options = sorted(_options(target), key=lambda row: row[0] not in REQUIRED_FIRST)
    for name, annotation, default in options:
        type_names = re.findall(r"[A-Za-z_]\w*", annotation)
        text = (
            own.get(name)
            or shared.get(name)
            or next((shared[t] for t in type_names if t in shared), "")
            or next(filter(None, (_summary(getattr(module, t, None)) for t in type_names)), "")
        )
        if not text:
            undocumented.append(name)
        cells = [f"`{name}`", _code(annotation), _code(default) if default != "required" else "required"]
        rows.append("| " + " | ".join([*cells, _cell(text) or "—"]) + " |")
    if undocumented:
        log.info("options without a #: comment in %s: %s", target.__module__, ", ".join(undocumented))
    return "\n".join(rows) + "\n"


def _summary(thing: object) -> str:
    """The first paragraph of a class's docstring, for a class of this package (an option's type)."""
    if not (isinstance(thing, type) and thing.__module__.startswith("embed_middleware")):
        return ""
    return " ".join(inspect.getdoc(thing).split("\n\n")[0].split()) if thing.__doc__ else ""


def _code(text: str) -> str:
    return f"`{text.replace('|', '&#124;')}`" if text else ""


def _cell(text: str) -> str:
    """A comment as a table cell: reStructuredText's double backquotes become Markdown code."""
    return text.replace("``", "`").replace("|", "&#124;")


def _generated(kind: str, name: str) -> str:
    if kind == "include":
        return (ROOT / name).read_text(encoding="utf-8")
    if name == "options":
        return render_options()
    if name == "bench-chart":
        chart = DOCS / "bench.png"
        return "![The benchmark ratios, ours against each floor](bench.png)\n" if chart.exists() else ""
    raise ValueError(f"no generator named {name!r} (docs/hooks.py)")


def on_page_markdown(markdown: str, **_: Any) -> str:
    """MkDocs calls this for every page before rendering it."""
    return MARKER.sub(lambda m: _generated(m.group(1), m.group(2)), markdown)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    print(render_options())
