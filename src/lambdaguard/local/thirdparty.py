"""A local stand-in for a third-party API: one plain-HTTP and one HTTPS server on loopback.

The HTTPS server presents a certificate for ``localhost`` and ``127.0.0.1``
signed by a throwaway CA; functions trust it through the CA file path they
are given (``THIRD_PARTY_CA``), the way a function ships a private CA bundle.
Every request is counted so tests can compare what a function did with what
lambdaguard recorded.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["ThirdPartyApi"]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        with self.server.api.lock:
            self.server.api.requests[(self.server.scheme, self.command, self.path)] += 1
        body = json.dumps({"ok": True, "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _answer
    do_POST = _answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, api: ThirdPartyApi, scheme: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.api = api
        self.scheme = scheme


class ThirdPartyApi:
    """Plain-HTTP and HTTPS servers answering ``{"ok": true}`` to any GET/POST."""

    def __init__(self, cert_dir: Path) -> None:
        self.lock = threading.Lock()
        self.requests: Counter[tuple[str, str, str]] = Counter()
        cert_dir.mkdir(parents=True, exist_ok=True)
        self.ca_file, cert_file, key_file = _make_certificates(cert_dir)
        self._http = _Server(self, "http")
        self._https = _Server(self, "https")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        self._https.socket = context.wrap_socket(self._https.socket, server_side=True)
        self._threads = [
            threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            for s in (self._http, self._https)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def http_url(self) -> str:
        """Base URL of the plain-HTTP server (by IP, as a webhook URL often is)."""
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def https_url(self) -> str:
        """Base URL of the HTTPS server (by host name, so the certificate matches)."""
        return f"https://localhost:{self._https.server_address[1]}"

    def count(self, scheme: str | None = None) -> int:
        """Requests answered, optionally for one scheme."""
        with self.lock:
            return sum(n for (s, _, _), n in self.requests.items() if scheme in (None, s))

    def close(self) -> None:
        """Stop both servers."""
        for server in (self._http, self._https):
            server.shutdown()
            server.server_close()

    def __enter__(self) -> ThirdPartyApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for localhost/127.0.0.1; returns (ca, cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lambdaguard demo CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / "ca.pem"
    cert_file = directory / "server.pem"
    key_file = directory / "server.key"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    return ca_file, cert_file, key_file
