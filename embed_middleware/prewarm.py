"""Pre-warming the vendor's cache: request this window's iframe URLs before any user does.

Chartio runs a dashboard's queries when an iframe URL first arrives with a new JWT and serves the
cached results for that JWT afterwards, and invites customers to request common URLs server side
first. With token reuse on, the URL a page will carry in this window is known in advance, so a cron
job can fetch it before business hours::

    results = prewarm(issuer, [Tenant("acme"), Tenant("globex")], ["sales"],
                      "https://embed.example.com/d/{resource}/{token}", concurrency=4)

    python -m embed_middleware prewarm --issuer myapp.embed:issuer --tenant acme --tenant globex \\
        --resource sales --url 'https://embed.example.com/d/{resource}/{token}'

The issuer must be the app's own (same key, claims hook and window; import it with ``--issuer``):
only then are the URLs the pages' URLs. Claims that depend on the request (a user, a form's filter)
are built from an empty GET ``/``, so only URLs whose claims do not depend on the visitor warm
anything. Tokens are never printed: the URLs shown carry ``<token>`` in the token's place.
"""

from __future__ import annotations

import argparse
import importlib
import string
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import TextIO
from urllib.parse import quote

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from .errors import ConfigurationError
from .tenants import Tenant
from .tokens import TokenIssuer

__all__ = ["WarmResult", "WarmUrl", "prewarm", "warm_urls"]

REDACTED = "<token>"
_FIELDS = frozenset({"tenant", "resource", "token"})


@dataclass(frozen=True)
class WarmUrl:
    """One URL to fetch; ``shown`` is the same URL with the token redacted (the repr shows only it)."""

    tenant: str
    resource: str | None
    url: str
    shown: str

    def __repr__(self) -> str:
        return f"WarmUrl({self.shown!r})"


@dataclass(frozen=True)
class WarmResult:
    """What fetching one URL did: the HTTP status, or the error when there was no answer."""

    shown: str
    status: int | None
    error: str | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 400


def _template(url_template: str) -> None:
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(url_template) if name is not None}
    except ValueError as error:
        raise ConfigurationError(f"the URL template is malformed: {error}") from None
    if "token" not in fields or not fields <= _FIELDS:
        raise ConfigurationError(
            "the URL template needs {token} and may use {tenant} and {resource}, e.g. "
            "'https://embed.example.com/d/{resource}/{token}'"
        )
    if not url_template.startswith(("https://", "http://")):
        raise ConfigurationError("the URL template must be an http:// or https:// URL")


def warm_urls(
    issuer: TokenIssuer, tenants: Iterable[Tenant], resources: Iterable[str | None], url_template: str
) -> list[WarmUrl]:
    """This window's URL for each tenant and resource it may embed (others are skipped).

    Refuses an issuer without reuse: its tokens are new on every page, so nothing warmed is reused.
    """
    if issuer.reuse is None:
        raise ConfigurationError(
            "pre-warming needs an issuer with reuse= on: without it every page gets a brand-new token "
            "and nothing warmed now would ever be requested again"
        )
    _template(url_template)
    request = Request(EnvironBuilder("/").get_environ())
    names = list(resources)
    urls = []
    for tenant in tenants:
        for resource in names:
            if not issuer.allows(tenant, resource):
                continue
            token = issuer.issue(tenant, resource, request).token
            values = {"tenant": quote(tenant.id, safe=""), "resource": quote(resource or "", safe="")}
            urls.append(
                WarmUrl(
                    tenant.id,
                    resource,
                    url_template.format(token=quote(token, safe=""), **values),
                    url_template.format(token=REDACTED, **values),
                )
            )
    return urls


def _fetch(url: WarmUrl, timeout: float) -> WarmResult:
    started = time.monotonic()
    status: int | None = None
    error: str | None = None
    try:
        request = urllib.request.Request(url.url, headers={"User-Agent": "embed_middleware-prewarm"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as failed:
        status = failed.code
    except (urllib.error.URLError, OSError) as failed:
        # The reason only: some errors quote the URL, which carries the token.
        reason = getattr(failed, "reason", failed)
        error = type(reason).__name__ if not isinstance(reason, str) else reason
    return WarmResult(url.shown, status, error, time.monotonic() - started)


class _Progress:
    """A bar redrawn in place on a terminal; plain occasional lines when stderr is a log (cron)."""

    def __init__(self, total: int, stream: TextIO | None) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self.tty = stream is not None and stream.isatty()

    def step(self) -> None:
        self.done += 1
        if self.stream is None:
            return
        filled = self.done * 30 // max(self.total, 1)
        line = f"prewarm [{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if self.done == self.total else ""))
        elif self.done == self.total or self.done % max(1, self.total // 10) == 0:
            self.stream.write(line + "\n")
        self.stream.flush()


def prewarm(
    issuer: TokenIssuer,
    tenants: Iterable[Tenant],
    resources: Sequence[str | None],
    url_template: str,
    *,
    concurrency: int = 4,
    timeout: float = 30.0,
    progress: TextIO | None = sys.stderr,
) -> list[WarmResult]:
    """Fetches this window's URLs, at most ``concurrency`` at once, in the order they finish.

    A bounded pool, because every URL makes the vendor run queries against the customer's database:
    warming must not become the load spike it exists to avoid.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 64:
        raise ConfigurationError(f"concurrency must be 1 to 64, not {concurrency!r}")
    urls = warm_urls(issuer, tenants, resources, url_template)
    bar = _Progress(len(urls), progress)
    results = []
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="prewarm") as pool:
        for future in as_completed([pool.submit(_fetch, url, timeout) for url in urls]):
            results.append(future.result())
            bar.step()
    return results


# -- python -m embed_middleware prewarm --------------------------------------------------------------


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Registers ``prewarm`` on the CLI's parser."""
    command = commands.add_parser(
        "prewarm",
        help="request this window's iframe URLs so the vendor caches their results",
        description=main.__doc__,
    )
    command.add_argument(
        "--issuer",
        required=True,
        metavar="MODULE:NAME",
        help="the app's TokenIssuer (or a function making it)",
    )
    command.add_argument("--tenant", action="append", required=True, metavar="ID", help="repeat per tenant")
    command.add_argument(
        "--tenant-lookup",
        metavar="MODULE:NAME",
        help="a mapping or function id -> Tenant (its locked claims)",
    )
    command.add_argument(
        "--resource", action="append", required=True, metavar="NAME", help="repeat per resource"
    )
    command.add_argument(
        "--url", required=True, metavar="TEMPLATE", help="e.g. 'https://vendor/d/{resource}/{token}'"
    )
    command.add_argument(
        "--concurrency", type=int, default=4, metavar="N", help="requests at once (%(default)s)"
    )
    command.add_argument(
        "--timeout", type=float, default=30.0, metavar="S", help="per request (%(default)s s)"
    )
    command.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    command.set_defaults(run=main)


def main(args: argparse.Namespace) -> int:
    """Requests the current window's iframe URL of every tenant and resource, a few at a time, and
    prints one line per URL (status, seconds, the URL with its token redacted). Exit status 0 when
    every URL answered 2xx/3xx, 1 otherwise: safe to run from cron, which mails what failed."""
    issuer = _load(args.issuer, "--issuer")
    if callable(issuer) and not isinstance(issuer, TokenIssuer):
        issuer = issuer()
    if not isinstance(issuer, TokenIssuer):
        raise ConfigurationError(f"--issuer {args.issuer} is a {type(issuer).__name__}, not a TokenIssuer")
    lookup = _load(args.tenant_lookup, "--tenant-lookup") if args.tenant_lookup else None
    tenants = [_tenant(tenant_id, lookup) for tenant_id in args.tenant]
    results = prewarm(
        issuer,
        tenants,
        args.resource,
        args.url,
        concurrency=args.concurrency,
        timeout=args.timeout,
        progress=None if args.quiet else sys.stderr,
    )
    for result in sorted(results, key=lambda r: r.shown):
        outcome = str(result.status) if result.status is not None else f"ERR {result.error}"
        print(f"{outcome:>4} {result.seconds:6.2f}s {result.shown}")
    if not results:
        print("nothing to warm: no tenant may embed those resources", file=sys.stderr)
    return 0 if results and all(result.ok for result in results) else 1


def _load(spec: str, option: str) -> object:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigurationError(f"{option} takes MODULE:NAME, e.g. myapp.embed:issuer, not {spec!r}")
    try:
        found: object = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as error:
        raise ConfigurationError(f"{option} {spec}: {error}") from None
    return found


def _tenant(tenant_id: str, lookup: object) -> Tenant:
    found = (
        lookup.get(tenant_id)
        if isinstance(lookup, Mapping)
        else lookup(tenant_id)
        if callable(lookup)
        else None
    )
    if lookup is not None and not isinstance(found, Tenant):
        raise ConfigurationError(f"--tenant-lookup has no tenant {tenant_id!r}")
    try:
        return found if isinstance(found, Tenant) else Tenant(tenant_id)
    except ValueError as error:
        raise ConfigurationError(f"--tenant: {error}") from None
