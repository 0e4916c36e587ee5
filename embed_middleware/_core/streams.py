"""Body streams for an adapter that hands the server an iterator (Django): the rewritten body from the
first output on, and the bridges between sync and async iterators; and closing an app's iterable that
an adapter replaced with its own (PEP 3333: the server would have). No framework imports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any

from .emission import Emission


def rest(first: Emission, feed: Callable[..., Emission], chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The rewritten body from the first output on (the app's chunks are read as Django asks)."""
    if first.body:
        yield first.body
    if first.last:
        return
    for chunk in chunks:
        if out := feed(chunk, final=False).body:
            yield out
    if out := feed(b"", final=True).body:
        yield out


async def arest(
    first: Emission, step: Callable[..., Awaitable[Emission]], chunks: AsyncIterator[bytes]
) -> AsyncIterator[bytes]:
    if first.body:
        yield first.body
    if first.last:
        return
    async for chunk in chunks:
        if out := (await step(chunk, final=False)).body:
            yield out
    if out := (await step(b"", final=True)).body:
        yield out


async def collect(chunks: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in chunks]


def drain(chunks: Iterable[bytes]) -> list[bytes]:
    return list(chunks)


async def replay(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def closers(app_iter: Iterable[bytes]) -> list[Any]:
    close = getattr(app_iter, "close", None)
    return [close] if close is not None else []


def close_app_iter(app_iter: Iterable[bytes]) -> None:
    for close in closers(app_iter):
        close()


def close_subclass(app_iter: list[bytes] | tuple[bytes, ...]) -> None:
    """PEP 3333: a body replaced by ours is still closed; a plain list or tuple has nothing to close,
    but a subclass may (the check on the exact type spares every page a failed attribute lookup)."""
    if type(app_iter) is not list and type(app_iter) is not tuple:
        close_app_iter(app_iter)
