"""The command line: what each command prints, what it exits with, and that no key ever shows.

Most tests call ``main([...])`` in-process; one runs ``python -m embed_middleware`` for real, so the
``__main__`` module and the exit status seen by a shell are covered too.
"""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from embed_middleware.cli import DEMO_MISSING, main
from embed_middleware.keys import KeySet, SigningKey
from embed_middleware.verify import Verifier

SECRET = secrets.token_urlsafe(48)
ENV = "EMBED_SIGNING_KEY"
REPO = Path(__file__).resolve().parents[1]
PRIVATE_KEYS: dict[str, Callable[[], Any]] = {
    "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "EdDSA": ed25519.Ed25519PrivateKey.generate,
    "RS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
}

#: Every secret a test wrote anywhere; no output may contain any of them.
_secrets: list[str] = [SECRET]


class Run:
    """What one ``main`` call printed, checked for leaked secrets before anyone looks at it."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err
        for secret in _secrets:
            assert secret not in out and secret not in err, "a key or secret was printed"


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Run]:
    monkeypatch.setenv(ENV, SECRET)

    def run(*argv: str) -> Run:
        code = main(list(argv))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="module")
def pem_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Path, Path]]]:
    """``{algorithm: (private PEM, public PEM)}``, written once for the module."""
    directory = tmp_path_factory.mktemp("keys")
    files = {}
    for algorithm, generate in PRIVATE_KEYS.items():
        key = generate()
        private_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        private, public = directory / f"{algorithm}.pem", directory / f"{algorithm}.pub.pem"
        private.write_bytes(private_pem)
        public.write_bytes(public_pem)
        # The base64 body of the private key, without the armour lines (which are not secret).
        _secrets.append("".join(private_pem.decode().splitlines()[1:-1])[:64])
        files[algorithm] = (private, public)
    yield files


def hs256(claims: dict[str, Any], key: str = SECRET, **headers: Any) -> str:
    return jwt.encode(claims, key, algorithm="HS256", headers=headers or None)


# -- mint -------------------------------------------------------------------------------------------


def test_mint_hs256_from_the_environment(cli: Callable[..., Run]) -> None:
    run = cli("mint", "--tenant", "acme", "--resource", "top_airlines", "--ttl", "120")
    assert run.code == 0 and run.err == ""
    token = run.out.strip()
    assert run.out == token + "\n", "mint prints the token and nothing else"
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "acme" and claims["resource"] == "top_airlines"
    assert claims["exp"] - claims["iat"] == 120
    assert abs(claims["iat"] - time.time()) < 5


@pytest.mark.parametrize("algorithm", sorted(PRIVATE_KEYS))
def test_mint_asymmetric_from_a_pem_file(
    cli: Callable[..., Run], pem_files: dict[str, tuple[Path, Path]], algorithm: str
) -> None:
    private, public = pem_files[algorithm]
    run = cli("mint", "--tenant", "globex", "--key-file", str(private), "--algorithm", algorithm)
    assert run.code == 0, run.err
    token = run.out.strip()
    public_key = serialization.load_pem_public_key(public.read_bytes())
    claims = jwt.decode(token, public_key, algorithms=[algorithm])  # type: ignore[arg-type]
    assert claims["sub"] == "globex" and "resource" not in claims
    # Without --kid an asymmetric key is named by its thumbprint, which the jwks command publishes.
    expected_kid = SigningKey.from_file(public, algorithm=algorithm).kid
    assert jwt.get_unverified_header(token)["kid"] == expected_kid


def test_mint_merges_claims_over_the_defaults(cli: Callable[..., Run]) -> None:
    extra = {"workspace_id": "ws_1", "scopes": [{"type": "PIPES:READ", "resource": "top"}]}
    run = cli("mint", "--tenant", "acme", "--resource", "top", "--claims", json.dumps(extra))
    claims = jwt.decode(run.out.strip(), SECRET, algorithms=["HS256"])
    assert claims["sub"] == "acme" and claims["resource"] == "top"
    assert claims["workspace_id"] == "ws_1" and claims["scopes"] == extra["scopes"]


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"exp": 99999999999}', "may not set exp"),
    ],
)
def test_mint_refuses_unusable_claims(cli: Callable[..., Run], claims: str, message: str) -> None:
    run = cli("mint", "--tenant", "acme", "--claims", claims)
    assert run.code == 2 and run.out == ""
    assert run.err.startswith("embed_middleware: ") and message in run.err


def test_mint_json(cli: Callable[..., Run]) -> None:
    run = cli("mint", "--tenant", "acme", "--kid", "2026-11", "--json")
    assert run.code == 0
    document = json.loads(run.out)
    assert set(document) == {"token", "kid", "jti", "issued_at", "expires_at"}
    claims = jwt.decode(document["token"], SECRET, algorithms=["HS256"])
    assert document["kid"] == "2026-11" == jwt.get_unverified_header(document["token"])["kid"]
    assert (document["jti"], document["issued_at"], document["expires_at"]) == (
        claims["jti"],
        claims["iat"],
        claims["exp"],
    )


def test_mint_without_a_key_says_where_to_put_one(
    cli: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV)
    run = cli("mint", "--tenant", "acme")
    assert run.code == 2 and run.out == ""
    assert run.err.startswith("embed_middleware: no signing key") and ENV in run.err
    assert "--key-file" in run.err and "Traceback" not in run.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--key-env", "SHORT_KEY"], "needs at least 32"),
        (["--key-file", "/nonexistent/embed.pem", "--algorithm", "ES256"], "cannot read key file"),
        (["--ttl", "0"], "ttl must be"),
        (["--tenant", "a\nb"], "--tenant"),
    ],
)
def test_mint_configuration_errors(
    cli: Callable[..., Run], monkeypatch: pytest.MonkeyPatch, argv: list[str], message: str
) -> None:
    short = "x" * 20
    _secrets.append(short)
    monkeypatch.setenv("SHORT_KEY", short)
    run = cli("mint", "--tenant", "acme", *argv)
    assert run.code == 2 and message in run.err and "Traceback" not in run.err


# -- inspect ----------------------------------------------------------------------------------------


def test_inspect_shows_header_claims_and_expiry(cli: Callable[..., Run]) -> None:
    now = int(time.time())
    token = hs256({"sub": "acme", "resource": "top", "iat": now - 48, "exp": now + 9 * 60 + 30}, kid="k1")
    run = cli("inspect", token)
    assert run.code == 0
    assert '"kid": "k1"' in run.out and '"sub": "acme"' in run.out and '"resource": "top"' in run.out
    assert "issued 4" in run.out and "s ago" in run.out
    assert "expires in 9 min 2" in run.out and " UTC)" in run.out
    assert "signature NOT checked" in run.out


def test_inspect_an_expired_token(cli: Callable[..., Run]) -> None:
    now = int(time.time())
    token = hs256({"sub": "acme", "iat": now - 3 * 3600 - 600, "exp": now - 3 * 3600 - 125})
    run = cli("inspect", token)
    assert run.code == 0
    assert "expired 3 h 2 min ago (" in run.out and "expires in" not in run.out


def test_inspect_reads_the_token_from_stdin(cli: Callable[..., Run], monkeypatch: pytest.MonkeyPatch) -> None:
    token = hs256({"sub": "acme", "iat": int(time.time()), "exp": int(time.time()) + 60})
    monkeypatch.setattr(sys, "stdin", io.StringIO(token + "\n"))
    run = cli("inspect", "-", "--verify")
    assert run.code == 0 and '"sub": "acme"' in run.out and "signature valid (no kid, HS256)" in run.out


def test_a_token_in_argv_draws_a_warning_and_stdin_does_not(
    cli: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = hs256({"sub": "acme", "iat": int(time.time()), "exp": int(time.time()) + 60})
    in_argv = cli("inspect", token)
    assert in_argv.code == 0 and "warning: a token on the command line" in in_argv.err
    assert token not in in_argv.err, "the warning never repeats the token"
    monkeypatch.setattr(sys, "stdin", io.StringIO(token + "\n"))
    piped = cli("inspect", "-")
    assert piped.code == 0 and piped.err == ""


def test_inspect_help_documents_stdin(cli: Callable[..., Run]) -> None:
    run = cli("inspect", "--help")
    assert run.code == 0 and "- reads the token from stdin" in run.out


def test_inspect_verify_without_resource_refuses_a_scoped_token(
    cli: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = cli("mint", "--tenant", "acme", "--resource", "top").out.strip()
    monkeypatch.setattr(sys, "stdin", io.StringIO(token))
    run = cli("inspect", "-", "--verify")
    assert run.code == 1 and "rejected: out_of_scope" in run.out and "pass --resource NAME" in run.out


def test_inspect_verify_accepts_a_minted_token(cli: Callable[..., Run]) -> None:
    token = cli("mint", "--tenant", "acme", "--resource", "top").out.strip()
    run = cli("inspect", token, "--verify", "--resource", "top")
    assert run.code == 0, run.out
    assert "signature valid" in run.out and "NOT checked" not in run.out


def test_inspect_verify_rejects_another_key(cli: Callable[..., Run]) -> None:
    token = hs256({"sub": "acme", "iat": int(time.time()), "exp": int(time.time()) + 60}, "o" * 48)
    run = cli("inspect", token, "--verify")
    assert run.code == 1
    assert "rejected: invalid_signature (" in run.out and "signature valid" not in run.out


def test_inspect_verify_rejects_a_resource_out_of_scope(cli: Callable[..., Run]) -> None:
    token = cli("mint", "--tenant", "acme", "--resource", "top").out.strip()
    run = cli("inspect", token, "--verify", "--resource", "bookings")
    assert run.code == 1 and "rejected: out_of_scope" in run.out


def test_inspect_verify_names_the_kid_it_could_not_find(cli: Callable[..., Run]) -> None:
    token = cli("mint", "--tenant", "acme", "--kid", "2026-11").out.strip()
    assert cli("inspect", token, "--verify").code == 1
    run = cli("inspect", token, "--verify", "--kid", "2026-11")
    assert run.code == 0 and "signature valid (kid '2026-11', HS256)" in run.out


def test_inspect_verify_suggests_the_tokens_algorithm_for_a_pem_key(
    cli: Callable[..., Run], pem_files: dict[str, tuple[Path, Path]]
) -> None:
    private, public = pem_files["ES256"]
    token = cli("mint", "--tenant", "acme", "--key-file", str(private), "--algorithm", "ES256").out.strip()
    run = cli("inspect", token, "--verify", "--key-file", str(public))
    assert run.code == 2 and run.out == "", "a key that cannot be loaded stops before any report"
    assert "pass --algorithm ES256" in run.err
    assert cli("inspect", token, "--verify", "--key-file", str(public), "--algorithm", "ES256").code == 0
    too_lenient = cli(
        "inspect", token, "--verify", "--key-file", str(public), "--algorithm", "ES256", "--leeway", "900"
    )
    assert too_lenient.code == 2 and too_lenient.out == "" and "leeway" in too_lenient.err


@pytest.mark.parametrize("token", ["not-a-token", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln"])
def test_inspect_a_malformed_token(
    cli: Callable[..., Run], monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(token))
    run = cli("inspect", "-")
    assert run.code == 2 and run.out == ""
    assert run.err.startswith("embed_middleware: not a JWT")


def test_inspect_a_deeply_nested_header_is_not_a_crash(
    cli: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    nested = base64.urlsafe_b64encode(b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}").rstrip(b"=")
    monkeypatch.setattr(sys, "stdin", io.StringIO(nested.decode() + ".e30.c2ln"))
    run = cli("inspect", "-")
    assert run.code == 2 and run.err.startswith("embed_middleware: not a JWT")


def test_inspect_check_options_need_verify(cli: Callable[..., Run]) -> None:
    token = hs256({"sub": "acme"})
    run = cli("inspect", token, "--resource", "top")
    assert run.code == 2 and "--resource" in run.err and "--verify" in run.err and run.out == ""


def test_inspect_a_token_without_exp(cli: Callable[..., Run]) -> None:
    run = cli("inspect", hs256({"sub": "acme", "nbf": int(time.time()) + 3600}))
    assert "never expires" in run.out and "not valid for another 59 min" in run.out


# -- jwks -------------------------------------------------------------------------------------------


def test_jwks_publishes_keys_that_verify_minted_tokens(
    cli: Callable[..., Run], pem_files: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    es_private, _ = pem_files["ES256"]
    _, ed_public = pem_files["EdDSA"]
    run = cli("jwks", "--key", f"ES256:{es_private}", "--key", f"EdDSA:{ed_public}")
    assert run.code == 0, run.err
    document = json.loads(run.out)
    assert [key["alg"] for key in document["keys"]] == ["ES256", "EdDSA"]
    assert all("d" not in key for key in document["keys"]), "only public halves are published"
    assert len(jwt.PyJWKSet.from_dict(document).keys) == 2

    token = cli(
        "mint", "--tenant", "acme", "--resource", "top", "--key-file", str(es_private), "--algorithm", "ES256"
    )
    verified = Verifier(KeySet.from_jwks(run.out)).verify(token.out.strip(), "top")
    assert verified.claims["sub"] == "acme"

    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(run.out)
    checked = cli("inspect", token.out.strip(), "--verify", "--jwks", str(jwks_file), "--resource", "top")
    assert checked.code == 0 and "signature valid (kid " in checked.out and "ES256" in checked.out


def test_jwks_refuses_shared_secrets(cli: Callable[..., Run], tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET)
    run = cli("jwks", "--key", f"HS256:{secret_file}")
    assert run.code == 2 and run.out == ""
    assert "shared secrets are never published" in run.err


def test_jwks_needs_the_algorithm_with_each_key(cli: Callable[..., Run]) -> None:
    run = cli("jwks", "--key", "keys/embed.pem")
    assert run.code == 2 and "ALG:PATH" in run.err


# -- demo, help, the real process -------------------------------------------------------------------


def test_demo_outside_a_clone(cli: Callable[..., Run], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "examples.demo", None)  # makes the import fail, as when installed
    run = cli("demo", "--port", "0")
    assert run.code == 2 and run.err == f"embed_middleware: {DEMO_MISSING}\n"
    assert "git clone" in run.err and "make demo" in run.err


def test_demo_passes_its_arguments_through(cli: Callable[..., Run], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def fake_main(argv: list[str]) -> int:
        seen.append(list(argv))
        return 0

    fake = types.ModuleType("examples.demo")
    fake.main = fake_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "examples.demo", fake)
    assert cli("demo", "--port", "0", "--dashboard-port", "0").code == 0
    assert seen == [["--port", "0", "--dashboard-port", "0"]]


def test_help_documents_every_command(cli: Callable[..., Run]) -> None:
    run = cli("--help")
    assert run.code == 0
    assert all(command in run.out for command in ("mint", "inspect", "jwks", "demo"))
    assert "ALG:PATH" in cli("jwks", "--help").out
    assert cli("frobnicate").code == 2


def test_python_dash_m_mints_a_token() -> None:
    env = {**os.environ, ENV: SECRET, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "embed_middleware", "mint", "--tenant", "acme", "--resource", "top"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert jwt.decode(done.stdout.strip(), SECRET, algorithms=["HS256"])["resource"] == "top"

    env.pop(ENV)
    missing = subprocess.run(
        [sys.executable, "-m", "embed_middleware", "mint", "--tenant", "acme"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 2 and ENV in missing.stderr and "Traceback" not in missing.stderr
