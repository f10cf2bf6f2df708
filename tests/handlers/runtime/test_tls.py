"""aiohttp imported with its default contexts' CA loading deferred: same settings, verified as before.

Each check runs in a fresh interpreter (this one imported aiohttp long ago).
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]

PROBE = """
import json, ssl, sys
plain_methods = dict(ssl.SSLContext.__dict__)
from handlers.runtime.tls import DeferredCAContext, import_aiohttp
import_aiohttp()
import aiohttp.connector as connector
from aiohttp.client_reqrep import SSL_ALLOWED_TYPES
verified, unverified = connector._SSL_CONTEXT_VERIFIED, connector._SSL_CONTEXT_UNVERIFIED
out = {
    "types": [type(verified).__name__, type(unverified).__name__],
    "verified": [verified.verify_mode == ssl.CERT_REQUIRED, verified.check_hostname],
    "unverified": [unverified.verify_mode == ssl.CERT_NONE, unverified.check_hostname],
    "ca_before": verified.cert_store_stats()["x509_ca"],
    "ssl_restored": dict(ssl.SSLContext.__dict__) == plain_methods,
    "allowed_types_plain": SSL_ALLOWED_TYPES[0] is ssl.SSLContext,
    "fresh_default_ca": ssl.create_default_context().cert_store_stats()["x509_ca"],
}
verified.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="example.org")
out["ca_after"] = verified.cert_store_stats()["x509_ca"]
print(json.dumps(out))
"""


def _run(code: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_default_contexts_keep_their_settings_and_load_the_ca_bundle_before_first_use() -> None:
    out = json.loads(_run(PROBE))
    assert out["types"] == ["DeferredCAContext", "DeferredCAContext"]
    assert out["verified"] == [True, True] and out["unverified"] == [True, False]
    assert out["ssl_restored"] and out["allowed_types_plain"]
    assert out["ca_before"] == 0  # nothing read at import...
    assert out["ca_after"] == out["fresh_default_ca"] > 0  # ...and the whole system bundle before a handshake


HANDSHAKE = """
import asyncio, ssl, sys
from handlers.runtime.tls import import_aiohttp
import_aiohttp()
import aiohttp

cert, key = sys.argv[1], sys.argv[2]

async def main():
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    async with aiohttp.ClientSession() as session:  # aiohttp's default (deferred) verified context
        try:
            await session.get(f"https://127.0.0.1:{port}/")
        except aiohttp.ClientConnectorCertificateError as exc:
            print("refused:", exc.certificate_error.verify_message)
            return
    print("ACCEPTED an untrusted certificate")

asyncio.run(main())
"""


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    crypto = pytest.importorskip("cryptography")
    del crypto
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_the_deferred_default_context_still_refuses_an_untrusted_server(tmp_path: Path) -> None:
    """Deferring the CA load must not turn verification off: a self-signed server is still refused."""
    cert, key = _self_signed(tmp_path)
    out = _run(HANDSHAKE, str(cert), str(key))
    assert out.startswith("refused:"), out
