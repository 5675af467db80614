"""The dashboard's TLS: a self-signed certificate made on first start (or the practice's own files).

The certificate (data_dir/tls/dashboard.crt) names the machine's host name, "localhost", the loopback
addresses and the configured listening address; its private key (dashboard.key) is 0600 in a 0700
directory. Browsers warn once about a self-signed certificate: the fingerprint printed at start (and by
`standardiste doctor`) lets the practice check it is this machine's before accepting it. A certificate
from the practice's own authority can be given instead (dashboard.cert_file / dashboard.key_file).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALIDITY = dt.timedelta(days=825)  # the longest browsers accept


def _names(host: str) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    for text in {socket.gethostname(), host} - {"", "0.0.0.0", "::"}:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(text)))
        except ValueError:
            names.append(x509.DNSName(text))
    for ip in ("127.0.0.1", "::1"):
        if x509.IPAddress(ipaddress.ip_address(ip)) not in names:
            names.append(x509.IPAddress(ipaddress.ip_address(ip)))
    return names


def ensure_self_signed(directory: Path, host: str, now: dt.datetime | None = None) -> tuple[Path, Path]:
    """(certificate, key) in `directory`, made now if absent or about to expire."""
    now = now or dt.datetime.now(dt.UTC)
    cert_path, key_path = directory / "dashboard.crt", directory / "dashboard.key"
    if cert_path.is_file() and key_path.is_file():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if cert.not_valid_after_utc - now > dt.timedelta(days=30):
            return cert_path, key_path
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Standardiste {socket.gethostname()}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(_names(host)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    tmp = key_path.with_name(key_path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    tmp.replace(key_path)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def fingerprint(cert_path: Path) -> str:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    return context
