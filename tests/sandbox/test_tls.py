"""The sandbox's HTTPS certificate: made once, reused, remade when unusable, and accepted by
a strict verifier for every loopback name."""

from __future__ import annotations

import ipaddress
import ssl
import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
from cryptography import x509

from local.acs_sandbox.testing import serve
from local.acs_sandbox.tls import VALIDITY, ensure_certificate


def test_first_run_makes_a_ca_and_a_server_certificate(tmp_path):
    files = ensure_certificate(tmp_path / "tls")

    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert.verify_directly_issued_by(ca)
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" not in files.ca.read_bytes() + files.cert.read_bytes()


def test_later_runs_reuse_it_until_it_is_unusable(tmp_path):
    directory = tmp_path / "tls"
    first = ensure_certificate(directory).cert.read_bytes()
    assert ensure_certificate(directory).cert.read_bytes() == first

    near_expiry = datetime.now(UTC) + VALIDITY - timedelta(days=1)
    renewed = ensure_certificate(directory, now=near_expiry).cert.read_bytes()
    assert renewed != first

    (directory / "key.pem").write_text("not a key")
    assert ensure_certificate(directory).cert.read_bytes() != renewed


def test_sandboxes_starting_together_agree_on_one_certificate(tmp_path):
    directory = tmp_path / "tls"
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: ensure_certificate(directory), range(4)))
    files = ensure_certificate(directory)
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    x509.load_pem_x509_certificate(files.cert.read_bytes()).verify_directly_issued_by(ca)


async def test_strict_verification_by_address_and_by_name(tmp_path):
    files = ensure_certificate(tmp_path / "tls")
    context = files.client_context()
    context.verify_flags |= ssl.VERIFY_X509_STRICT  # Python 3.13's default
    async with serve(tls=files) as url:
        port = url.rsplit(":", 1)[1]
        async with httpx.AsyncClient(verify=context, trust_env=False) as http:
            for host in ("127.0.0.1", "localhost"):
                response = await http.get(f"https://{host}:{port}/sandbox/health")
                assert response.json() == {"status": "ok"}
