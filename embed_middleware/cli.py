"""``python -m embed_middleware``: mint, inspect and publish tokens from a shell.

What an operator reaches for when an embed misbehaves: a token minted exactly as the middleware
mints it (to try against the vendor), a readable view of one a browser received (for whom, signed
with which key, expired or not), and the JWKS document verifiers fetch.

Keys are read from a file or an environment variable, never from an argument, which would end up in
shell history and in every ``ps`` listing. No output and no message ever shows a key.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from . import prewarm
from .errors import ConfigurationError
from .keys import ALGORITHMS, DEFAULT_KEY_ENV, MIN_HMAC_KEY_BYTES, KeySet, SigningKey
from .lifetime import describe_lifetime
from .tenants import Tenant
from .tokens import DEFAULT_TTL, RESERVED_CLAIMS, TokenIssuer, default_claims
from .verify.claims import unverified
from .verify.verifier import TokenRejected, Verifier

PROG = "python -m embed_middleware"
#: The examples are not part of the installed package (see pyproject's packages), only of a clone.
DEMO_MISSING = (
    "the demo ships with the source repository, not with the installed package: "
    "git clone <the embed_middleware repository> && cd embed_middleware && make demo"
)
#: What a JWKS may hold: the asymmetric algorithms.
_PUBLISHABLE = ", ".join(name for name in ALGORITHMS if name not in MIN_HMAC_KEY_BYTES)
#: inspect's options that mean something only when the token is verified.
_VERIFY_ONLY = ("key_file", "key_env", "jwks", "algorithm", "kid", "resource", "audience", "issuer", "leeway")
#: A bearer token in argv is readable by every local user (ps) and kept in shell history.
ARGV_TOKEN_WARNING = (
    "warning: a token on the command line is a live credential in your shell history and in every ps "
    f'listing; pipe it instead: echo "$TOKEN" | {PROG} inspect -'
)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command; 0 on success, 1 for a rejected token, 2 for anything the user must fix."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        # The demo has its own parser: everything after "demo" is its own, options included, which
        # argparse.REMAINDER does not capture when the first of them starts with "-".
        if args[:1] == ["demo"]:
            return _demo(args[1:])
        try:
            parsed = _parser().parse_args(args)
        except SystemExit as exit:  # --help (0) or a usage error (2): main returns, it does not exit
            return int(exit.code or 0)
        return int(parsed.run(parsed))
    except ConfigurationError as error:
        print(f"embed_middleware: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Mint, inspect and publish embed tokens. Keys come from a file or an environment "
        "variable, never from the command line.",
        epilog="examples:\n"
        f"  {PROG} mint --tenant acme --resource top_airlines\n"
        f"  {PROG} mint --tenant acme --key-file embed.pem --algorithm ES256 | {PROG} inspect - \\\n"
        "      --verify --key-file embed.pub.pem --algorithm ES256 --resource top_airlines\n"
        f"  {PROG} jwks --key ES256:keys/new.pem --key RS256:keys/old.pem > jwks.json\n"
        f"  {PROG} prewarm --issuer myapp.embed:issuer --tenant acme --resource sales \\\n"
        "      --url 'https://vendor.example/d/{resource}/{token}'\n"
        "exit status: 0 ok, 1 token rejected (inspect --verify), 2 something to fix (message on stderr)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    mint = commands.add_parser("mint", help="print a fresh token for a tenant", description=_mint.__doc__)
    mint.add_argument("--tenant", required=True, metavar="ID", help="the tenant id (the sub and tid claims)")
    mint.add_argument("--resource", metavar="NAME", help="the resource claim, as <JWT_TOKEN:NAME> would set")
    mint.add_argument("--claims", metavar="JSON", help="a JSON object merged over sub and resource")
    mint.add_argument(
        "--ttl", type=int, default=DEFAULT_TTL, metavar="S", help="lifetime, seconds (%(default)s)"
    )
    mint.add_argument("--json", action="store_true", help="print token, kid, jti, issued_at, expires_at")
    _add_key_options(mint)
    mint.set_defaults(run=_mint)

    inspect = commands.add_parser(
        "inspect", help="show a token's header, claims and lifetime", description=_inspect.__doc__
    )
    inspect.add_argument(
        "token",
        metavar="-",
        help="- reads the token from stdin (a token given here works, with a warning: it lands in "
        "shell history and ps listings)",
    )
    inspect.add_argument("--verify", action="store_true", help="check the signature, lifetime and scope")
    checks = inspect.add_argument_group("checks (with --verify)")
    checks.add_argument("--resource", metavar="R", help="require the token to grant this resource")
    checks.add_argument("--audience", metavar="A", help="require this aud")
    checks.add_argument("--issuer", metavar="I", help="require this iss")
    checks.add_argument("--leeway", type=float, metavar="S", help="seconds of clock skew allowed (default 0)")
    _add_key_options(inspect, jwks=True)
    inspect.set_defaults(run=_inspect)

    jwks = commands.add_parser("jwks", help="print the public keys as JWKS", description=_jwks.__doc__)
    jwks.add_argument(
        "--key",
        action="append",
        required=True,
        type=_key_spec,
        metavar="ALG:PATH",
        help=f"a PEM key (private or public) and its algorithm, one of {_PUBLISHABLE}; "
        "repeat for a rotation set, active key first. kid is the RFC 7638 thumbprint, as mint sets it",
    )
    jwks.set_defaults(run=_jwks)

    prewarm.add_command(commands)
    commands.add_parser("demo", help="run the repository's demo, passing it the rest", add_help=False)
    return parser


def _add_key_options(parser: argparse.ArgumentParser, *, jwks: bool = False) -> None:
    group = parser.add_argument_group("key (a file or an environment variable, never an argument)")
    source = group.add_mutually_exclusive_group()
    source.add_argument("--key-file", metavar="PATH", help="a PEM key, or for HS* a file holding the secret")
    source.add_argument("--key-env", metavar="NAME", help=f"variable holding the key ({DEFAULT_KEY_ENV})")
    if jwks:
        source.add_argument("--jwks", metavar="PATH", help="verify with a JWKS document (see jwks)")
    group.add_argument(
        "--algorithm", choices=list(ALGORITHMS), metavar="ALG", help=f"{', '.join(ALGORITHMS)} (HS256)"
    )
    group.add_argument("--kid", help="the key id (default: none for HS*, the RFC 7638 thumbprint otherwise)")


def _signing_key(args: argparse.Namespace, token_alg: object = None) -> SigningKey:
    """The key from --key-file, else from the environment, with messages in command-line terms."""
    algorithm = args.algorithm or "HS256"
    env = args.key_env or DEFAULT_KEY_ENV
    if not args.key_file and not os.environ.get(env):
        need = ALGORITHMS[algorithm] + ("" if algorithm in MIN_HMAC_KEY_BYTES else " in PEM form")
        raise ConfigurationError(
            f"no signing key: set the {env} environment variable to {need}, or pass --key-file PATH"
        )
    try:
        if args.key_file:
            return SigningKey.from_file(args.key_file, algorithm=algorithm, kid=args.kid)
        return SigningKey.from_env(env, algorithm=algorithm, kid=args.kid)
    except ConfigurationError as error:
        if args.algorithm or (args.key_file and not os.path.isfile(args.key_file)):
            raise
        # keys.py speaks Python (algorithm='ES256'); the usual cause here is a PEM read as HS256.
        other = token_alg if token_alg in ALGORITHMS and token_alg != algorithm else "ALG"
        raise ConfigurationError(
            f"{error}; the key was read as {algorithm}: pass --algorithm {other}"
        ) from None


def _mint(args: argparse.Namespace) -> int:
    """Prints one token for a tenant, signed and shaped exactly as the middleware would: the default
    claims (sub, resource) with --claims merged over them, then iat, exp and jti."""
    extra = _claims_object(args.claims)
    try:
        tenant = Tenant(args.tenant)
    except ValueError as error:
        raise ConfigurationError(f"--tenant: {error}") from None

    def claims(tenant: Tenant, resource: str | None, request: Any) -> dict[str, Any]:
        return {**default_claims(tenant, resource, request), **extra}

    issuer = TokenIssuer(_signing_key(args), ttl=args.ttl, claims=claims)
    issued = issuer.issue(tenant, args.resource)  # no request: the hook gets None
    if args.json:
        fields = ("token", "kid", "jti", "issued_at", "expires_at")
        print(json.dumps({name: getattr(issued, name) for name in fields}, indent=2))
    else:
        print(issued.token)
    return 0


def _claims_object(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError as error:
        raise ConfigurationError(
            f"--claims is not valid JSON ({error}); quote it: --claims '{{\"ws\": 1}}'"
        ) from None
    if not isinstance(value, dict):
        raise ConfigurationError(f"--claims must be a JSON object, not {type(value).__name__}")
    if reserved := sorted(RESERVED_CLAIMS & value.keys()):
        raise ConfigurationError(f"--claims may not set {', '.join(reserved)}: the issuer does (use --ttl)")
    return value


def _inspect(args: argparse.Namespace) -> int:
    """Shows a token's header and claims, and when it was issued, becomes valid and expires. The
    signature is checked only with --verify, given the key (or the JWKS) to check it with."""
    if not args.verify and (given := [name for name in _VERIFY_ONLY if getattr(args, name) is not None]):
        options = ", ".join("--" + name.replace("_", "-") for name in given)
        raise ConfigurationError(
            f"{options}: these take effect only with --verify; add it to check the token"
        )
    if args.jwks and (args.algorithm or args.kid):
        raise ConfigurationError(
            "--algorithm and --kid describe a key file or variable; a JWKS names its own"
        )
    if args.token != "-":
        print(ARGV_TOKEN_WARNING, file=sys.stderr)
    token = sys.stdin.read().strip() if args.token == "-" else args.token.strip()
    if not token:
        raise ConfigurationError("no token: pass - and the token on stdin")
    try:
        header, claims = unverified(token)  # any parser failure (RecursionError on old PyJWT too)
    except TokenRejected:
        raise ConfigurationError(
            "not a JWT: expected three base64url parts, header.claims.signature"
        ) from None
    verifier = None
    if args.verify:  # a key or setting to fix stops here, before half a report is printed
        keys = KeySet.from_jwks(_read_text(args.jwks)) if args.jwks else _signing_key(args, header.get("alg"))
        verifier = Verifier(
            keys, audience=args.audience, expected_issuer=args.issuer, leeway=args.leeway or 0
        )
    # json.dumps escapes control characters, so a hostile claim cannot drive the terminal.
    print("header " + json.dumps(header, indent=2))
    print("claims " + json.dumps(claims, indent=2))
    for line in describe_lifetime(claims, time.time()):
        print(line)
    if verifier is None:
        print("signature NOT checked (add --verify and the key to check it)")
        return 0
    try:
        verified = verifier.verify(token, args.resource)
    except TokenRejected as rejected:
        print(f"rejected: {rejected.reason}" + (f" ({rejected.detail})" if rejected.detail else ""))
        if rejected.reason == "out_of_scope" and args.resource is None:
            print("the token grants scopes: pass --resource NAME to check one of them")
        if rejected.reason == "unknown_key" and isinstance(header.get("kid"), str):
            print(f"the token names kid {header['kid']!r}: pass --kid with it if your key is that one")
        return 1
    scope = f"; grants {args.resource!r}" if args.resource else ""
    kid = "no kid" if verified.key.kid is None else f"kid {verified.key.kid!r}"
    print(f"signature valid ({kid}, {verified.key.algorithm}){scope}")
    return 0


def _key_spec(value: str) -> tuple[str, str]:
    algorithm, colon, path = value.partition(":")
    if not colon or not path or algorithm not in ALGORITHMS:
        raise argparse.ArgumentTypeError(
            f"expected ALG:PATH with ALG one of {_PUBLISHABLE}, e.g. ES256:keys/embed.pem"
        )
    return algorithm, path


def _jwks(args: argparse.Namespace) -> int:
    """Prints the public halves of the keys as a JWKS document, for verifiers to fetch. Only
    asymmetric keys: a shared secret (HS*) is never published."""
    keys = []
    for algorithm, path in args.key:
        if algorithm in MIN_HMAC_KEY_BYTES:
            raise ConfigurationError(
                f"{algorithm} keys are shared secrets, and shared secrets are never published: anyone "
                "who can verify with one can also forge tokens. Hand the secret to verifiers privately, "
                "or sign with ES256, EdDSA or RS256 and publish that key"
            )
        keys.append(SigningKey.from_file(path, algorithm=algorithm))
    print(json.dumps(KeySet(*keys).jwks(), indent=2))
    return 0


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(
            f"cannot read {path!r}: {getattr(error, 'strerror', None) or error}"
        ) from None


def _demo(argv: list[str]) -> int:
    """Runs examples.demo, which is importable only from a clone (python -m puts the cwd on the path)."""
    try:
        demo = importlib.import_module("examples.demo")
    except ModuleNotFoundError as error:
        if error.name in ("examples", "examples.demo"):
            raise ConfigurationError(DEMO_MISSING) from None
        raise ConfigurationError(
            f"the demo needs {error.name}, which is not installed: pip install -e '.[demo]' (or make demo)"
        ) from None
    return int(demo.main(argv))
