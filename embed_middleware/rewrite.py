"""The streaming placeholder rewriter: bytes in, bytes out, no headers and no I/O.

A page written for the embed looks like ``<iframe src=".../embed?token=<JWT_TOKEN:top_airlines>">``.
By the time it leaves the app, a template engine may have HTML-escaped the placeholder
(``&lt;JWT_TOKEN&gt;``) or a URL builder percent-encoded it (``%3CJWT_TOKEN%3E``), so every
family of spellings is recognised, each with its own consistent opener, separator and closer.

The engine searches for the bare placeholder word with ``bytes.find`` (the fast path, as fast as
``bytes.replace``) and only then looks around it for an opener and a closer. It holds back no more
than the longest possible placeholder, so memory stays constant whatever the body's size::

    syntax = PlaceholderSyntax()
    rewriter = StreamRewriter(syntax, lambda resource: b"eyJ...")
    out = rewriter.feed(chunk_1) + rewriter.feed(chunk_2) + rewriter.flush()
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import product

#: The word between the brackets, unless configured otherwise (the Tinybird guide's spelling).
DEFAULT_PLACEHOLDER = "JWT_TOKEN"
#: Resource names are bounded so that a stray ``<JWT_TOKEN:`` followed by a megabyte of name
#: characters can never make the engine hold back more than a few dozen bytes.
DEFAULT_MAX_RESOURCE_LENGTH = 64
_MAX_RESOURCE_LENGTH_LIMIT = 256
#: The app's own placeholders end with ``:`` and the request's nonce (see placeholders.py): the engine
#: makes room for it in every name, and leaves telling trusted from untrusted to its caller.
NONCE_LENGTH = 22

_PLACEHOLDER_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
RESOURCE_NAME = re.compile(r"[A-Za-z0-9_.:-]+")


class _Hold:
    """The type of :data:`HOLD`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "HOLD"


#: What a replacement returns when it cannot answer yet (its token is not minted): the rewriter stops
#: at that placeholder, keeps it (and what follows) and sets ``blocked``; ``feed(b"")`` resumes there.
HOLD = _Hold()

#: Replaces one placeholder: receives the resource name (None for the bare placeholder) and returns
#: the bytes to put in its place, None to leave the placeholder exactly as it was, or HOLD.
Replacement = Callable[[str | None], bytes | _Hold | None]


def _spellings(template: str) -> list[bytes]:
    """Expand a template whose ``X``/``C``/``E``/``A`` letters may appear in either case."""
    variable = [i for i, ch in enumerate(template) if ch in "XCEA"]
    results = []
    for cases in product((str.lower, str.upper), repeat=len(variable)):
        chars = list(template)
        for index, case in zip(variable, cases, strict=False):
            chars[index] = case(chars[index])
        results.append("".join(chars).encode("ascii"))
    return sorted(set(results))


@dataclass(frozen=True)
class _Family:
    """One consistent way of writing the brackets around a placeholder."""

    name: str
    openers: tuple[bytes, ...]
    separators: tuple[bytes, ...]
    closers: tuple[bytes, ...]
    #: Regex alternation matching one resource-name character as this family spells it.
    name_char: bytes


_NAME_CHARS = rb"[A-Za-z0-9_.:\-]"

_FAMILIES = (
    _Family("raw", (b"<",), (b":",), (b">",), _NAME_CHARS),
    # What Jinja2, Django and markupsafe produce, plus the numeric references some escapers use.
    _Family(
        "html",
        (b"&lt;", b"&#60;", *_spellings("&#X3C;")),
        (b":",),
        (b"&gt;", b"&#62;", *_spellings("&#X3E;")),
        _NAME_CHARS,
    ),
    # What urllib.parse.quote and url_for produce; ":" may be encoded too.
    _Family(
        "percent",
        tuple(_spellings("%3C")),
        (b":", *_spellings("%3A")),
        tuple(_spellings("%3E")),
        _NAME_CHARS + rb"|%3[aA]",
    ),
)


def _alternation(literals: Iterable[bytes]) -> bytes:
    ordered = sorted(set(literals), key=len, reverse=True)
    return b"(?:" + b"|".join(re.escape(lit) for lit in ordered) + b")"


def _proper_prefixes(literals: Iterable[bytes]) -> set[bytes]:
    return {lit[:k] for lit in literals for k in range(len(lit))}


@dataclass(frozen=True)
class _CompiledFamily:
    family: _Family
    #: The text after the word: a closer, or separator + name + closer.
    suffix: re.Pattern[bytes]
    #: Matches (to the end of the buffer) any text that could still grow into a valid suffix.
    suffix_prefix: re.Pattern[bytes]
    longest_suffix: int


def _compile(family: _Family, max_resource: int) -> _CompiledFamily:
    close = _alternation(family.closers)
    sep = _alternation(family.separators)
    char = b"(?:" + family.name_char + b")"
    suffix = re.compile(close + b"|" + sep + b"(" + char + b"{1,%d})" % max_resource + close)
    close_prefix = _alternation(_proper_prefixes(family.closers))
    sep_prefix = _alternation(_proper_prefixes(family.separators))
    char_prefix = _alternation(_proper_prefixes([b"%3a", b"%3A"]) - {b""})
    partial_char = b"|" + char_prefix if family.name == "percent" else b""
    suffix_prefix = re.compile(
        b"(?:"
        + close_prefix
        + b"|"
        + sep_prefix
        + b"|"
        + sep
        + char
        + b"{0,%d}" % max_resource
        + b"(?:"
        + close_prefix
        + partial_char
        + b")"
        + b")\\Z"
    )
    longest_char = 3 if family.name == "percent" else 1
    longest = max(
        max(map(len, family.closers)),
        max(map(len, family.separators)) + longest_char * max_resource + max(map(len, family.closers)),
    )
    return _CompiledFamily(family, suffix, suffix_prefix, longest)


@dataclass(frozen=True)
class PlaceholderSyntax:
    """Which placeholders a page may carry; compiled once and shared by every response.

    ``word`` is what stands between the brackets (``JWT_TOKEN``); named placeholders add
    ``:resource`` with at most ``max_resource_length`` characters from ``[A-Za-z0-9_.:-]``.
    """

    word: str = DEFAULT_PLACEHOLDER
    max_resource_length: int = DEFAULT_MAX_RESOURCE_LENGTH
    _word: bytes = field(init=False, repr=False)
    _openers: dict[bytes, _CompiledFamily] = field(init=False, repr=False)
    _opener_lengths: tuple[int, ...] = field(init=False, repr=False)
    _tail_prefixes: tuple[frozenset[bytes], ...] = field(init=False, repr=False)
    max_length: int = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.word, str) or not _PLACEHOLDER_WORD.fullmatch(self.word):
            raise ValueError(
                f"placeholder word {self.word!r} must be a letter followed by up to 63 letters, "
                "digits or underscores, e.g. 'JWT_TOKEN'"
            )
        if not 1 <= self.max_resource_length <= _MAX_RESOURCE_LENGTH_LIMIT:
            raise ValueError(
                f"max_resource_length must be between 1 and {_MAX_RESOURCE_LENGTH_LIMIT}, "
                f"not {self.max_resource_length}"
            )
        word = self.word.encode("ascii")
        compiled = [_compile(f, self.max_resource_length + 1 + NONCE_LENGTH) for f in _FAMILIES]
        openers = {opener: c for c in compiled for opener in c.family.openers}
        heads = [opener + word for opener in openers]
        longest_head = max(map(len, heads))
        by_length: list[set[bytes]] = [set() for _ in range(longest_head)]
        for prefix in _proper_prefixes(heads) - {b""}:
            by_length[len(prefix)].add(prefix)
        set_ = object.__setattr__
        set_(self, "_word", word)
        set_(self, "_openers", openers)
        set_(self, "_opener_lengths", tuple(sorted({len(o) for o in openers})))
        set_(self, "_tail_prefixes", tuple(frozenset(s) for s in by_length))
        set_(
            self,
            "max_length",
            max(max(map(len, c.family.openers)) + len(word) + c.longest_suffix for c in compiled),
        )


class StreamRewriter:
    """Rewrites one response body, chunk by chunk. One instance per response.

    ``feed`` returns every byte that can no longer be part of a placeholder; the rest (never more
    than ``syntax.max_length - 1`` bytes) waits for the next chunk or for ``flush``. When the
    replacement answers HOLD, ``blocked`` is set and the rewriter keeps the input from that placeholder
    on (the caller's chunk, not yet consumed) until ``feed(b"")`` or ``flush()`` is called again.
    """

    __slots__ = ("_pending", "_replace", "_syntax", "blocked", "replacements")

    def __init__(self, syntax: PlaceholderSyntax, replace: Replacement) -> None:
        self._syntax = syntax
        self._replace = replace
        self._pending = b""
        #: How many placeholders were replaced (left-as-is ones do not count).
        self.replacements = 0
        #: The last feed/flush stopped at a placeholder whose replacement answered HOLD.
        self.blocked = False

    @property
    def held_back(self) -> int:
        """Bytes received but not yet emitted."""
        return len(self._pending)

    def feed(self, chunk: bytes, *, final: bool = False) -> bytes:
        """``final``: no more input follows, so nothing is held back (``flush`` then has nothing left
        unless a replacement answered HOLD)."""
        self.blocked = False
        buffer = self._pending + chunk if self._pending else chunk
        return self._rewrite(buffer, final=final)

    def flush(self) -> bytes:
        self.blocked = False
        buffer, self._pending = self._pending, b""
        return self._rewrite(buffer, final=True) if buffer else b""

    def _rewrite(self, buffer: bytes, *, final: bool) -> bytes:
        syntax = self._syntax
        word = syntax._word
        word_length = len(word)
        pieces: list[bytes] = []
        emitted = 0  # buffer[:emitted] is already in pieces
        search_from = 0
        while True:
            at = buffer.find(word, search_from)
            if at < 0:
                break
            search_from = at + 1
            family = None
            start = at
            for length in syntax._opener_lengths:
                begin = at - length
                if begin >= emitted and buffer[begin:at] in syntax._openers:
                    family = syntax._openers[buffer[begin:at]]
                    start = begin
                    break
            if family is None:
                continue
            after = at + word_length
            match = family.suffix.match(buffer, after)
            if match is None:
                undecided = not final and len(buffer) - after < family.longest_suffix
                if undecided and family.suffix_prefix.match(buffer, after):
                    # Could still become a placeholder: hold from its opener on.
                    pieces.append(buffer[emitted:start])
                    self._pending = buffer[start:]
                    return b"".join(pieces)
                continue
            name = match.group(1)
            resource = None if name is None else _decode_resource(name)
            replacement = self._replace(resource)
            if replacement is HOLD:
                pieces.append(buffer[emitted:start])
                self._pending = buffer[start:]
                self.blocked = True
                return b"".join(pieces)
            if replacement is None:
                search_from = match.end()
                continue
            assert isinstance(replacement, bytes)
            self.replacements += 1
            pieces.append(buffer[emitted:start])
            pieces.append(replacement)
            emitted = search_from = match.end()
        hold = 0 if final else self._partial_head_length(buffer, emitted)
        end = len(buffer) - hold
        self._pending = buffer[end:] if hold else b""
        if not pieces:
            return buffer if hold == 0 else buffer[:end]
        pieces.append(buffer[emitted:end])
        return b"".join(pieces)

    def _partial_head_length(self, buffer: bytes, emitted: int) -> int:
        """Length of the longest tail of ``buffer`` that could begin an opener+word."""
        prefixes = self._syntax._tail_prefixes
        for length in range(min(len(prefixes) - 1, len(buffer) - emitted), 0, -1):
            if buffer[-length:] in prefixes[length]:
                return length
        return 0


def _decode_resource(raw: bytes) -> str:
    return raw.replace(b"%3A", b":").replace(b"%3a", b":").decode("ascii")
