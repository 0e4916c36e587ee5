"""The streaming placeholder rewriter: every spelling, every chunk boundary, bounded memory.

The key property test compares the streamed output against an independent reference: one ``re.sub``
over the whole body, with a regex written here from the documented syntax.

The engine recognises names up to ``max_resource_length`` plus ``ROOM`` characters: the app's own
placeholders end with ``:`` and the request's 22-character nonce (``<JWT_TOKEN:top:NONCE>``). Telling
the app's placeholders from other text, and refusing resources longer than ``max_resource_length``,
is the exchange's job (tested through the adapters); here every recognised name goes to the callback.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from itertools import combinations, pairwise, product

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from embed_middleware.rewrite import NONCE_LENGTH, PlaceholderSyntax, StreamRewriter
from tests.support.hypothesis_profiles import examples

DEFAULT = PlaceholderSyntax()
#: What the engine adds to every name bound: ":" and a nonce of 22 characters (128 bits, base64url).
ROOM = 1 + 22
#: The longest name the default syntax recognises (64 for the resource, then ":NONCE").
LONGEST = 64 + ROOM
NONCE = "3q2-AbZ9_xYwVuTsRqPoNm"


def test_the_room_is_a_colon_and_a_22_character_nonce() -> None:
    assert NONCE_LENGTH == 22 and len(NONCE) == NONCE_LENGTH
    assert ROOM == 1 + NONCE_LENGTH


Replace = Callable[[str | None], bytes | None]


def token_for(resource: str | None) -> bytes:
    """A recognisable replacement that names the resource it was made for."""
    return b"[tok:" + (b"-" if resource is None else resource.encode()) + b"]"


class Recorder:
    """A replacement callback that records every resource it is asked for."""

    def __init__(self, replace: Replace = token_for) -> None:
        self.calls: list[str | None] = []
        self._replace = replace

    def __call__(self, resource: str | None) -> bytes | None:
        self.calls.append(resource)
        return self._replace(resource)


def chunked(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = [0, *sorted(set(cuts)), len(data)]
    return [data[a:b] for a, b in pairwise(points)]


def stream(
    chunks: Sequence[bytes], replace: Replace = token_for, syntax: PlaceholderSyntax = DEFAULT
) -> tuple[bytes, StreamRewriter]:
    """Feeds every chunk, then flushes; checks the memory bound after every feed."""
    rewriter = StreamRewriter(syntax, replace)
    out = []
    for chunk in chunks:
        out.append(rewriter.feed(chunk))
        assert rewriter.held_back <= syntax.max_length
    out.append(rewriter.flush())
    assert rewriter.held_back == 0
    return b"".join(out), rewriter


def rewrite(data: bytes, replace: Replace = token_for, syntax: PlaceholderSyntax = DEFAULT) -> bytes:
    return stream([data], replace, syntax)[0]


# -- the independent reference ------------------------------------------------------------------


def reference_pattern(word: str, max_resource_length: int) -> re.Pattern[bytes]:
    """One regex for the three families, written from the documented syntax (not from rewrite.py)."""
    w = re.escape(word.encode("ascii"))
    n = b"{1,%d}" % max_resource_length
    name = rb"[A-Za-z0-9_.:\-]"
    raw = b"<" + w + b"(?:>|:(" + name + n + b")>)"
    html_open = rb"(?:&lt;|&#60;|&#[xX]3[cC];)"
    html_close = rb"(?:&gt;|&#62;|&#[xX]3[eE];)"
    html = html_open + w + b"(?:" + html_close + b"|:(" + name + n + b")" + html_close + b")"
    pct_name = rb"(?:[A-Za-z0-9_.:\-]|%3[aA])"
    pct = rb"%3[cC]" + w + rb"(?:%3[eE]|(?::|%3[aA])(" + pct_name + n + rb")%3[eE])"
    return re.compile(b"|".join((raw, html, pct)))


def reference_rewrite(
    data: bytes, replace: Replace, word: str = "JWT_TOKEN", max_resource_length: int = 64
) -> tuple[bytes, list[str | None]]:
    """``max_resource_length`` as configured: names may be ``ROOM`` characters longer (the nonce)."""
    calls: list[str | None] = []

    def substitute(match: re.Match[bytes]) -> bytes:
        raw = match.group(1) or match.group(2) or match.group(3)
        resource = None if raw is None else re.sub(rb"%3[aA]", b":", raw).decode("ascii")
        calls.append(resource)
        replacement = replace(resource)
        return match.group(0) if replacement is None else replacement

    return reference_pattern(word, max_resource_length + ROOM).sub(substitute, data), calls


def test_reference_agrees_with_hand_written_examples() -> None:
    """The oracle itself must be right, or the property test proves nothing."""
    out, calls = reference_rewrite(b"a<JWT_TOKEN>b%3cJWT_TOKEN%3aX%3Ay%3e&lt;JWT_TOKEN&gt;", token_for)
    assert out == b"a[tok:-]b[tok:X:y][tok:-]"
    assert calls == [None, "X:y", None]
    nonce = NONCE.encode()
    assert reference_rewrite(b"<JWT_TOKEN:abcdef:" + nonce + b">", token_for, max_resource_length=5)[1] == []
    five = reference_rewrite(b"<JWT_TOKEN:abcde:" + nonce + b">", token_for, max_resource_length=5)[1]
    assert five == ["abcde:" + NONCE]
    assert reference_rewrite(b"<JWT_TOKEN&gt;", token_for)[1] == []


# -- every spelling is recognised ---------------------------------------------------------------

HEX_OPENERS = [f"&#{x}3{c};".encode() for x, c in product("xX", "cC")]
HEX_CLOSERS = [f"&#{x}3{e};".encode() for x, e in product("xX", "eE")]

RECOGNISED: list[tuple[bytes, str | None]] = [
    (b"<JWT_TOKEN>", None),
    (b"<JWT_TOKEN:top_airlines>", "top_airlines"),
    (b"<JWT_TOKEN:Az09_.:->", "Az09_.:-"),
    (b"<JWT_TOKEN::>", ":"),
    (b"<JWT_TOKEN:schema:table>", "schema:table"),
    (b"<JWT_TOKEN:" + b"n" * 64 + b">", "n" * 64),
    (b"<JWT_TOKEN:" + b"n" * LONGEST + b">", "n" * LONGEST),
    # The app's own, as the helpers write them: the resource, then ":" and the nonce.
    (b"<JWT_TOKEN:top_airlines:" + NONCE.encode() + b">", "top_airlines:" + NONCE),
    (b"<JWT_TOKEN:" + NONCE.encode() + b">", NONCE),
    (b"<JWT_TOKEN:" + b"n" * 64 + b":" + NONCE.encode() + b">", "n" * 64 + ":" + NONCE),
    (b"&lt;JWT_TOKEN:top_1:" + NONCE.encode() + b"&gt;", "top_1:" + NONCE),
    (b"%3CJWT_TOKEN%3Atop_1%3A" + NONCE.encode() + b"%3E", "top_1:" + NONCE),
    (b"&lt;JWT_TOKEN&gt;", None),
    (b"&lt;JWT_TOKEN:top_1&gt;", "top_1"),
    (b"&#60;JWT_TOKEN&#62;", None),
    (b"&#60;JWT_TOKEN:a.b&#62;", "a.b"),
    (b"&lt;JWT_TOKEN&#62;", None),
    (b"&#60;JWT_TOKEN:x&#x3E;", "x"),
    (b"%3CJWT_TOKEN%3E", None),
    (b"%3cJWT_TOKEN%3e", None),
    (b"%3CJWT_TOKEN%3e", None),
    (b"%3CJWT_TOKEN:top_1%3E", "top_1"),
    (b"%3cJWT_TOKEN:top_1%3e", "top_1"),
    (b"%3CJWT_TOKEN%3Atop_1%3E", "top_1"),
    (b"%3cJWT_TOKEN%3atop_1%3e", "top_1"),
    (b"%3CJWT_TOKEN%3Aschema%3Atable%3E", "schema:table"),
    (b"%3CJWT_TOKEN:a:b%3ac%3E", "a:b:c"),
    (b"%3CJWT_TOKEN%3A%3A%3E", ":"),
    (b"%3CJWT_TOKEN%3A" + b"%3A" * 64 + b"%3E", ":" * 64),
    (b"%3CJWT_TOKEN%3A" + b"%3A" * LONGEST + b"%3E", ":" * LONGEST),
]


@pytest.mark.parametrize(("placeholder", "resource"), RECOGNISED)
def test_every_placeholder_form_is_replaced(placeholder: bytes, resource: str | None) -> None:
    recorder = Recorder()
    page = b'<iframe src="https://x.example/embed?token=' + placeholder + b'&amp;x=1"></iframe>'
    out = rewrite(page, recorder)
    assert out == page.replace(placeholder, token_for(resource))
    assert recorder.calls == [resource]


@pytest.mark.parametrize(("opener", "closer"), list(product(HEX_OPENERS, HEX_CLOSERS)))
def test_hex_character_references_in_either_case(opener: bytes, closer: bytes) -> None:
    recorder = Recorder()
    assert rewrite(opener + b"JWT_TOKEN" + closer, recorder) == b"[tok:-]"
    assert rewrite(b"x" + opener + b"JWT_TOKEN:r.1" + closer + b"y", recorder) == b"x[tok:r.1]y"
    assert recorder.calls == [None, "r.1"]


def test_placeholder_alone_and_adjacent_placeholders() -> None:
    recorder = Recorder()
    body = b"<JWT_TOKEN><JWT_TOKEN:a>&lt;JWT_TOKEN&gt;%3CJWT_TOKEN%3Ab%3E"
    assert rewrite(body, recorder) == b"[tok:-][tok:a][tok:-][tok:b]"
    assert recorder.calls == [None, "a", None, "b"]


def test_resource_name_may_contain_the_word_itself() -> None:
    recorder = Recorder()
    assert rewrite(b"<JWT_TOKEN:JWT_TOKEN>", recorder) == b"[tok:JWT_TOKEN]"
    assert recorder.calls == ["JWT_TOKEN"]


# -- lookalikes are left alone ------------------------------------------------------------------

NOT_PLACEHOLDERS = [
    # families mixed between opener and closer
    b"<JWT_TOKEN&gt;",
    b"&lt;JWT_TOKEN>",
    b"%3CJWT_TOKEN>",
    b"<JWT_TOKEN%3E",
    b"&lt;JWT_TOKEN%3E",
    b"%3CJWT_TOKEN&gt;",
    b"&#60;JWT_TOKEN>",
    b"<JWT_TOKEN:a&gt;",
    b"%3CJWT_TOKEN:a&#62;",
    # an encoded separator belongs to the percent family only
    b"<JWT_TOKEN%3Aa>",
    b"&lt;JWT_TOKEN%3Aa&gt;",
    b"<JWT_TOKEN:a%3Ab>",
    # empty names
    b"<JWT_TOKEN:>",
    b"&lt;JWT_TOKEN:&gt;",
    b"%3CJWT_TOKEN:%3E",
    b"%3CJWT_TOKEN%3A%3E",
    # too long: one name character more than 64 and the room for ":NONCE"
    b"<JWT_TOKEN:" + b"n" * (LONGEST + 1) + b">",
    b"&lt;JWT_TOKEN:" + b"n" * (LONGEST + 1) + b"&gt;",
    b"%3CJWT_TOKEN%3A" + b"%3A" * (LONGEST + 1) + b"%3E",
    b"<JWT_TOKEN:" + b"n" * 65 + b":" + NONCE.encode() + b">",
    # characters outside [A-Za-z0-9_.:-]
    b"<JWT_TOKEN:a b>",
    b"<JWT_TOKEN:a/b>",
    b"<JWT_TOKEN:a&b>",
    b"<JWT_TOKEN:a'b>",
    b"<JWT_TOKEN:caf\xc3\xa9>",
    b"<JWT_TOKEN:a\x00>",
    b"%3CJWT_TOKEN:a%20b%3E",
    # other words, other spellings of the word, no brackets
    b"<jwt_token>",
    b"<Jwt_Token>",
    b"<JWT_TOKENS>",
    b"<XJWT_TOKEN>",
    b"<JWT_TOKE>",
    b"< JWT_TOKEN>",
    b"<JWT_TOKEN >",
    b"JWT_TOKEN",
    b"JWT_TOKEN:top",
    b"JWT_TOKEN>",
    b"<JWT_TOKEN",
    b"<JWT_TOKEN:top",
    b"&lt;JWT_TOKEN",
    # broken references
    b"&lt;JWT_TOKEN&gt",
    b"&#x3C;JWT_TOKEN&#x3E",
    b"&#x3CJWT_TOKEN&#x3E;",
    b"%3JWT_TOKEN%3E",
    b"%3CJWT_TOKEN%3",
]


@pytest.mark.parametrize("text", NOT_PLACEHOLDERS)
def test_lookalikes_are_left_untouched(text: bytes) -> None:
    recorder = Recorder()
    page = b"before " + text + b" after"
    assert rewrite(page, recorder) == page
    assert recorder.calls == []
    # Byte by byte as well: holding back must never lose or reorder anything.
    assert stream([bytes([b]) for b in page], recorder)[0] == page
    assert recorder.calls == []


def test_name_length_limit_is_counted_in_decoded_characters() -> None:
    syntax = PlaceholderSyntax(max_resource_length=5)
    nonce = NONCE.encode()
    assert rewrite(b"<JWT_TOKEN:abcde:" + nonce + b">", syntax=syntax) == b"[tok:abcde:" + nonce + b"]"
    too_long = b"<JWT_TOKEN:abcdef:" + nonce + b">"
    assert rewrite(too_long, syntax=syntax) == too_long
    # 5 + ROOM decoded characters, 3 bytes for each %3A.
    longest = b"%3CJWT_TOKEN:%3A%3Aa%3a%3A%3A" + nonce + b"%3E"
    assert rewrite(longest, syntax=syntax) == b"[tok:::a:::" + nonce + b"]"
    one_more = b"%3CJWT_TOKEN:%3A%3Aa%3a%3Ab%3A" + nonce + b"%3E"
    assert rewrite(one_more, syntax=syntax) == one_more


def test_callback_returning_none_leaves_the_placeholder_exactly() -> None:
    def refuse_secret(resource: str | None) -> bytes | None:
        return None if resource == "secret" else token_for(resource)

    recorder = Recorder(refuse_secret)
    body = b"a<JWT_TOKEN:secret>b%3cJWT_TOKEN%3asecret%3Ec&lt;JWT_TOKEN:ok&gt;d<JWT_TOKEN>"
    out, rewriter = stream([body], recorder)
    assert out == b"a<JWT_TOKEN:secret>b%3cJWT_TOKEN%3asecret%3Ec[tok:ok]d[tok:-]"
    assert recorder.calls == ["secret", "secret", "ok", None]
    assert rewriter.replacements == 2


def test_callback_is_called_once_per_occurrence_and_never_without_a_placeholder() -> None:
    recorder = Recorder()
    out, rewriter = stream([b"<JWT_TOKEN:a> <JWT_TOKEN> <JWT_TOKEN:a> %3CJWT_TOKEN%3Aa%3E"], recorder)
    assert out == b"[tok:a] [tok:-] [tok:a] [tok:a]"
    assert recorder.calls == ["a", None, "a", "a"], "memoising tokens is the caller's job, not the rewriter's"
    assert rewriter.replacements == 4

    idle = Recorder()
    page = b"<html><p>JWT_TOKEN &lt; &gt; %3C %3E <JWT_TOKEN:> <jwt_token></p></html>" * 50
    assert stream(chunked(page, range(0, len(page), 7)), idle)[0] == page
    assert idle.calls == []


def test_empty_replacement_removes_the_placeholder() -> None:
    recorder = Recorder(lambda resource: b"")
    out, rewriter = stream([b"a<JWT_TOKEN>b&lt;JWT_TOKEN:x&gt;c"], recorder)
    assert out == b"abc"
    assert rewriter.replacements == 2


def test_replacement_bytes_are_not_scanned_again() -> None:
    recorder = Recorder(lambda resource: b"<JWT_TOKEN>")
    assert rewrite(b"x<JWT_TOKEN:a>y", recorder) == b"x<JWT_TOKEN>y"
    assert recorder.calls == ["a"]


# -- configuration -------------------------------------------------------------------------------


def test_configurable_word() -> None:
    syntax = PlaceholderSyntax("EMBED")
    recorder = Recorder()
    body = b"<EMBED> &lt;EMBED:a&gt; %3CEMBED%3Ab%3E <JWT_TOKEN> <EMBED_X> <embed>"
    assert rewrite(body, recorder, syntax) == b"[tok:-] [tok:a] [tok:b] <JWT_TOKEN> <EMBED_X> <embed>"
    assert recorder.calls == [None, "a", "b"]
    assert syntax.word == "EMBED"


@pytest.mark.parametrize("word", ["", "1ABC", "_JWT", "JWT-TOKEN", "JWT TOKEN", "JWT<", "TÖKEN", "A" * 65])
def test_invalid_word_is_refused(word: str) -> None:
    with pytest.raises(ValueError, match="placeholder word"):
        PlaceholderSyntax(word)


def test_word_must_be_a_string() -> None:
    with pytest.raises(ValueError, match="placeholder word"):
        PlaceholderSyntax(b"JWT_TOKEN")  # type: ignore[arg-type]


@pytest.mark.parametrize("length", [0, -1, 257, 1000])
def test_invalid_max_resource_length_is_refused(length: int) -> None:
    with pytest.raises(ValueError, match="max_resource_length"):
        PlaceholderSyntax(max_resource_length=length)


@pytest.mark.parametrize(("word", "length"), [("A", 1), ("A" * 64, 256), ("x_1", 64)])
def test_extreme_valid_configuration(word: str, length: int) -> None:
    syntax = PlaceholderSyntax(word, max_resource_length=length)
    name = "n" * length + ":" + NONCE
    body = f"<{word}:{name}>".encode()
    assert rewrite(body, syntax=syntax) == token_for(name)
    assert rewrite(f"<{word}:{name}n>".encode(), syntax=syntax) == f"<{word}:{name}n>".encode()


def test_max_length_covers_the_longest_placeholder() -> None:
    longest = b"%3CJWT_TOKEN%3A" + b"%3A" * LONGEST + b"%3E"
    assert DEFAULT.max_length == len(longest)
    assert rewrite(longest) == b"[tok:" + b":" * LONGEST + b"]"
    small = PlaceholderSyntax(max_resource_length=5)
    assert small.max_length == len(b"%3CJWT_TOKEN%3A" + b"%3A" * (5 + ROOM) + b"%3E")
    assert small.max_length < DEFAULT.max_length


# -- chunk boundaries ----------------------------------------------------------------------------

SPLIT_CASES: list[tuple[bytes, bytes]] = [
    (b"ab<JWT_TOKEN>cd", b"ab[tok:-]cd"),
    (b"ab<JWT_TOKEN:top_1>cd", b"ab[tok:top_1]cd"),
    (b"ab&#X3c;JWT_TOKEN:a.b&#x3E;cd", b"ab[tok:a.b]cd"),
    (b"ab&lt;JWT_TOKEN&gt;cd", b"ab[tok:-]cd"),
    (b"ab%3cJWT_TOKEN%3Aa%3ab%3Ecd", b"ab[tok:a:b]cd"),
    (b"<JWT_TOKEN:a><JWT_TOKEN:b>", b"[tok:a][tok:b]"),
    (b"<<JWT_TOKEN>>", b"<[tok:-]>"),
    (b"&&lt;JWT_TOKEN&gt;&", b"&[tok:-]&"),
    (b"%3C%3CJWT_TOKEN%3E%3E", b"%3C[tok:-]%3E"),
    (b"<JWT_TOKEN:<JWT_TOKEN>", b"<JWT_TOKEN:[tok:-]"),
    (b"<JWT_TOKEN:" + b"n" * LONGEST + b">", b"[tok:" + b"n" * LONGEST + b"]"),
    (
        b"<JWT_TOKEN:" + b"n" * (LONGEST + 1) + b"><JWT_TOKEN>",
        b"<JWT_TOKEN:" + b"n" * (LONGEST + 1) + b">[tok:-]",
    ),
    (b"%3CJWT_TOKEN%3A" + b"%3A" * LONGEST + b"%3E", b"[tok:" + b":" * LONGEST + b"]"),
    (
        b"x&#x3C;JWT_TOKEN:top_1:" + NONCE.encode() + b"&gt;y",
        b"x[tok:top_1:" + NONCE.encode() + b"]y",
    ),
]


@pytest.mark.parametrize(("body", "expected"), SPLIT_CASES)
def test_split_at_every_position(body: bytes, expected: bytes) -> None:
    for cut in range(len(body) + 1):
        assert stream(chunked(body, [cut]))[0] == expected, f"split at {cut}"
    assert stream([bytes([b]) for b in body])[0] == expected, "byte by byte"
    assert stream([b"", body, b""])[0] == expected, "empty chunks around"


@pytest.mark.parametrize(("body", "expected"), SPLIT_CASES[:9])
def test_split_at_every_pair_of_positions(body: bytes, expected: bytes) -> None:
    for cuts in combinations(range(1, len(body)), 2):
        assert stream(chunked(body, cuts))[0] == expected, f"split at {cuts}"


def test_an_unfinished_placeholder_is_emitted_by_flush() -> None:
    rewriter = StreamRewriter(DEFAULT, token_for)
    assert rewriter.feed(b"abc<JWT_TOK") == b"abc"
    assert rewriter.held_back == len(b"<JWT_TOK")
    assert rewriter.feed(b"EN:top") == b""
    assert rewriter.flush() == b"<JWT_TOKEN:top"
    assert rewriter.held_back == 0
    assert rewriter.flush() == b""


@pytest.mark.slow  # megabytes per case, ~8 s in all
@pytest.mark.parametrize(
    "chunk_size",
    [
        1,
        2,
        3,
        7,
        64,
        65,
        DEFAULT.max_length - 1,
        DEFAULT.max_length,
        DEFAULT.max_length + 1,
        4096,
        65537,
        1 << 21,
    ],
)
@pytest.mark.parametrize(
    ("opener", "name_char"), [(b"<JWT_TOKEN:", b"a"), (b"&lt;JWT_TOKEN:", b"a"), (b"%3CJWT_TOKEN%3A", b"%3A")]
)
def test_endless_name_is_streamed_with_bounded_memory(
    chunk_size: int, opener: bytes, name_char: bytes
) -> None:
    body = opener + name_char * ((1 << 20) // len(name_char)) + b">"
    rewriter = StreamRewriter(DEFAULT, Recorder())
    out = []
    largest = 0
    for start in range(0, len(body), chunk_size):
        out.append(rewriter.feed(body[start : start + chunk_size]))
        largest = max(largest, rewriter.held_back)
        assert rewriter.held_back <= DEFAULT.max_length
    out.append(rewriter.flush())
    assert b"".join(out) == body
    assert largest <= DEFAULT.max_length
    assert rewriter.replacements == 0


def test_many_openers_in_a_row_are_streamed_with_bounded_memory() -> None:
    body = b"<JWT_TOKEN:" * 20_000 + b"<JWT_TOKEN>"
    recorder = Recorder()
    out, _ = stream(chunked(body, range(0, len(body), 5)), recorder)
    assert out == b"<JWT_TOKEN:" * 20_000 + b"[tok:-]"
    assert recorder.calls == [None]


# -- the fast path -------------------------------------------------------------------------------


def test_feed_returns_a_chunk_without_placeholders_as_the_same_object() -> None:
    rewriter = StreamRewriter(DEFAULT, Recorder())
    for chunk in (
        b"<html><body>" + b"x" * 10_000 + b"</body></html>",
        b"a &lt; b &amp;&amp; c %3C d JWT_TOKEN <JWT_TOKEN:> done",
        bytes(range(256)).replace(b"<", b"").replace(b"&", b"").replace(b"%", b""),
    ):
        assert rewriter.feed(chunk) is chunk
        assert rewriter.held_back == 0
    assert rewriter.flush() == b""


@pytest.mark.parametrize("tail", [b"<", b"&", b"&l", b"&#", b"&#x3", b"%", b"%3", b"%3c", b"<JWT_TOKEN"])
def test_a_possible_placeholder_start_is_held_until_the_next_chunk(tail: bytes) -> None:
    rewriter = StreamRewriter(DEFAULT, token_for)
    assert rewriter.feed(b"text" + tail) == b"text"
    assert rewriter.held_back == len(tail)
    assert rewriter.feed(b" more") == tail + b" more"
    assert rewriter.held_back == 0


# -- the property: streaming equals one re.sub over the whole body -------------------------------

PIECES = [
    b"<", b">", b"&lt;", b"&gt;", b"&#60;", b"&#62;", b"&#x3C;", b"&#X3c;", b"&#x3e;", b"&#X3E;",
    b"%3C", b"%3c", b"%3E", b"%3e", b"%3A", b"%3a", b":", b"JWT_TOKEN", b"JWT_TOK", b"EN", b"EMBED",
    b"EMB", b"a", b"top_1", b"x.y-z", b"abcdef", b"&", b"%", b"%3", b"#", b"&#", b"&#x", b"x3C;", b" ",
    b"\xff", b"-", b"<JWT_TOKEN>", b"<JWT_TOKEN:", b"&lt;JWT_TOKEN", b"%3CJWT_TOKEN", b"%3CJWT_TOKEN%3A",
    b"<EMBED:", b"%3cEMBED%3a",
]  # fmt: skip


OPENERS = [b"<", b"&lt;", b"&#60;", b"&#x3C;", b"&#X3c;", b"%3C", b"%3c"]
SEPARATORS = [b":", b"%3A", b"%3a"]
CLOSERS = [b">", b"&gt;", b"&#62;", b"&#x3e;", b"&#X3E;", b"%3E", b"%3e"]
NAME_UNITS = [b"a", b"Z", b"0", b"_", b".", b":", b"-", b"%3A", b"%3a"]
#: Long units, so that names reach every bound (``max_resource_length`` + ROOM, up to 64 + 23) and
#: miss it by one: a nonce as the helpers write it, one spelled with an encoded ":", and near lengths.
LONG_NAME_UNITS = [
    b":" + NONCE.encode(),
    b"%3A" + NONCE.encode(),
    NONCE.encode(),
    NONCE.encode()[:21],
    b"n" * 5,
    b"n" * 64,
]


@st.composite
def near_placeholders(draw: st.DrawFn) -> bytes:
    """Opener, word, maybe a separator and a name, maybe a closer: families mixed at random, names
    around the length limit, so valid placeholders and near misses both turn up often."""
    opener = draw(st.sampled_from(OPENERS))
    word = draw(st.sampled_from([b"JWT_TOKEN", b"EMBED", b"JWT_TOK"]))
    name = b""
    if draw(st.booleans()):
        units = st.one_of(st.sampled_from(NAME_UNITS), st.sampled_from(LONG_NAME_UNITS))
        name = draw(st.sampled_from(SEPARATORS)) + b"".join(draw(st.lists(units, max_size=7)))
    closer = draw(st.sampled_from([*CLOSERS, b""]))
    return opener + word + name + closer


@st.composite
def bodies_and_cuts(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    piece = st.one_of(near_placeholders(), st.sampled_from(PIECES), st.binary(max_size=3))
    body = b"".join(draw(st.lists(piece, max_size=40)))
    chunking = draw(st.sampled_from(["random", "every byte", "fixed"]))
    if chunking == "every byte":
        cuts = list(range(len(body)))
    elif chunking == "fixed":
        cuts = list(range(0, len(body), draw(st.integers(1, 12))))
    else:
        cuts = draw(st.lists(st.integers(0, len(body)), max_size=12))
    return body, cuts


def refuse_dashes(resource: str | None) -> bytes | None:
    """Leaves placeholders whose name has a dash in place, so the None path is exercised too."""
    return None if resource is not None and "-" in resource else token_for(resource)


@settings(max_examples=examples(1500), deadline=None)
@given(
    case=bodies_and_cuts(),
    word=st.sampled_from(["JWT_TOKEN", "EMBED"]),
    max_resource_length=st.sampled_from([1, 2, 5, 64]),
)
@example(case=(b"<JWT_TOKEN:a>", list(range(13))), word="JWT_TOKEN", max_resource_length=1)
@example(case=(b"x%3CEMBED%3A%3a%3A%3E", list(range(21))), word="EMBED", max_resource_length=2)
@example(
    case=(b"&#X3c;JWT_TOKEN:a-&#x3E;&lt;JWT_TOKEN&gt;", [3, 20, 30]), word="JWT_TOKEN", max_resource_length=5
)
def test_streaming_equals_one_regex_substitution(
    case: tuple[bytes, list[int]], word: str, max_resource_length: int
) -> None:
    body, cuts = case
    syntax = PlaceholderSyntax(word, max_resource_length=max_resource_length)
    expected, expected_calls = reference_rewrite(body, refuse_dashes, word, max_resource_length)

    recorder = Recorder(refuse_dashes)
    out, rewriter = stream(chunked(body, cuts), recorder, syntax)  # asserts held_back after every feed

    assert out == expected
    assert recorder.calls == expected_calls
    assert rewriter.replacements == sum(1 for r in expected_calls if refuse_dashes(r) is not None)


@settings(max_examples=examples(300), deadline=None)
@given(body=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=8))
def test_arbitrary_bytes_without_the_word_pass_through_unchanged(body: bytes, cuts: list[int]) -> None:
    while b"JWT_TOKEN" in body:
        body = body.replace(b"JWT_TOKEN", b"")
    recorder = Recorder()
    assert stream(chunked(body, [c for c in cuts if c <= len(body)]), recorder)[0] == body
    assert recorder.calls == []
