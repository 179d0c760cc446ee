"""The sandbox's HTTPS certificate: a local CA and a server certificate for 127.0.0.1/localhost.

Made on the first run (with the `cryptography` package) and reused while it stays valid. Clients
trust the sandbox by trusting `ca.pem`, e.g. `SSL_CERT_FILE=<dir>/ca.pem` (OpenSSL, httpx,
aiohttp) or `REQUESTS_CA_BUNDLE=<dir>/ca.pem` (requests, so the official SDK). A CA separate
from the server certificate keeps strict verifiers happy (Python 3.13 sets
VERIFY_X509_STRICT, which refuses a server certificate that claims to be a CA).

Files in the directory: `ca.pem` (trust this), `cert.pem` (server certificate, then the CA),
`key.pem` (the server key, mode 0600). The CA's key is not kept: nothing else is ever signed.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_TLS_DIR = Path(__file__).resolve().parents[2] / ".artifacts" / "acs-sandbox-tls"
HOSTS = ("localhost",)
ADDRESSES = ("127.0.0.1", "::1")
VALIDITY = timedelta(days=825)
RENEW_BEFORE = timedelta(days=30)


@dataclass(frozen=True)
class TlsFiles:
    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def cert(self) -> Path:
        return self.directory / "cert.pem"

    @property
    def key(self) -> Path:
        return self.directory / "key.pem"

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this sandbox (for tests and tools)."""
        return ssl.create_default_context(cafile=str(self.ca))


def ensure_certificate(
    directory: Path = DEFAULT_TLS_DIR, *, now: datetime | None = None
) -> TlsFiles:
    """The certificate files in `directory`, made first if missing, unreadable or near expiry.

    Safe when several sandboxes start at once: one makes the files, the others wait for it.
    """
    files = TlsFiles(directory)
    directory.mkdir(parents=True, exist_ok=True)
    moment = now or datetime.now(UTC)
    with _locked(directory / ".lock"):
        if not _usable(files, moment):
            _make(files, moment)
    return files


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _usable(files: TlsFiles, now: datetime) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
        key = serialization.load_pem_private_key(files.key.read_bytes(), password=None)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        cert.verify_directly_issued_by(ca)
    except (OSError, ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    covers = set(HOSTS) <= set(names.get_values_for_type(x509.DNSName)) and {
        ipaddress.ip_address(a) for a in ADDRESSES
    } <= set(names.get_values_for_type(x509.IPAddress))
    same_key = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fresh = cert.not_valid_after_utc - RENEW_BEFORE > now and ca.not_valid_after_utc > now
    return covers and same_key and fresh


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ACS sandbox (local development)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _make(files: TlsFiles, now: datetime) -> None:
    start, end = now - timedelta(minutes=5), now + VALIDITY
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("ACS sandbox local CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(h) for h in HOSTS]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ADDRESSES]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    _write(
        files.key,
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        mode=0o600,
    )
    _write(files.cert, cert.public_bytes(pem) + ca.public_bytes(pem))
    _write(files.ca, ca.public_bytes(pem))


def _write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Whole file or nothing: a reader never sees half a PEM."""
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(temporary, mode)
    os.replace(temporary, path)
