"""The keys and certificates of `ollama_tls`, made on the controller (docs/facts.md, "The HTTPS API").

- API keys: host data lists `sha256:<hex>` of each key, or `env:NAME` (a variable on the controller that
  holds the clear key, hashed here). The board gets the hashes only (`key_hashes`).
- The CA: a small certificate authority of the working directory, `.jetson-ollama/ca/` (`ca.key` never
  leaves the controller; `ca.crt` is what clients trust). Each board gets a key of its own and a
  certificate for its address and name, kept in `.jetson-ollama/ca/boards/` and made again only when the
  CA, the names or the expiry call for it (`board_certificate`), so a second run changes nothing.
- A certificate the user brings (`ollama_tls_cert`/`ollama_tls_key`) is read and checked against its key
  (`read_pair`).

Uses `cryptography`, which paramiko (pyinfra's SSH) already depends on. `jetson-ollama ca` shows the CA
(made if missing), `jetson-ollama ca new-key` prints a fresh key and the line host data takes,
`jetson-ollama ca hash` hashes a key read on stdin.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import ipaddress
import os
import re
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .cli import one_line_errors

CA_DIR = Path(".jetson-ollama/ca")  # relative to the directory pyinfra runs in, like the rollout's state
CA_DAYS = 3650
BOARD_DAYS = 825  # the longest lifetime clients such as Apple's accept for a server certificate
RENEW_DAYS = 30   # a board certificate that expires sooner is made again


class TlsError(ValueError):
    """One line: why the HTTPS API cannot be set up as asked."""


@dataclass(frozen=True)
class TlsFiles:
    """What the board gets: the certificate chain and key (PEM) and the API key hashes; `ca` is the CA
    certificate clients trust (None for a certificate the user brings)."""
    cert_pem: str
    key_pem: str
    hashes: tuple[str, ...]
    ca: Path | None = None


def key_hash(key: str) -> str:
    """The hash host data lists for a clear key: sha256:<hex> of its UTF-8 bytes."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def key_hashes(entries: list[str], environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """The hashes of ollama_api_keys: sha256:<hex> as given, env:NAME hashed from the controller's variable.
    Raises TlsError when a variable is unset or empty."""
    environ = dict(os.environ) if environ is None else environ
    found = []
    for entry in entries:
        if entry.startswith("env:"):
            clear = environ.get(entry[4:], "").strip()
            if not clear:
                raise TlsError(f"ollama_api_keys: {entry} names a variable that is not set on the controller")
            found.append(key_hash(clear))
        else:
            found.append(entry)
    return tuple(dict.fromkeys(found))


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def ensure_ca(directory: Path = CA_DIR) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The CA of `directory` (ca.crt, ca.key), made on first use: an EC P-256 key and a self-signed
    certificate valid ten years, allowed to sign server certificates only (path length 0)."""
    cert_path, key_path = directory / "ca.crt", directory / "ca.key"
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not _pair(cert, key):
            raise TlsError(f"{cert_path} and {key_path} are not a pair: move them away to make a new CA")
        return cert, key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jetson-ollama CA"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "jetson-ollama")])
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _san(names: list[str]) -> list[x509.GeneralName]:
    entries: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return entries


def _pair(cert: x509.Certificate, key) -> bool:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return cert.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, Exception):  # noqa: BLE001 - InvalidSignature and friends: not ours
        return False
    return True


def _names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(entry.value) for entry in san]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def board_certificate(board: str, names: list[str], directory: Path = CA_DIR) -> tuple[str, str]:
    """(certificate chain PEM, key PEM) of `board` for `names` (IP addresses and DNS names), signed by the
    CA of `directory`. Kept in boards/<board>.crt/.key and reused while they are signed by this CA, cover
    exactly `names` and are valid for more than RENEW_DAYS; else a new key and certificate are made."""
    ca_cert, ca_key = ensure_ca(directory)
    cert_path = directory / "boards" / f"{_safe(board)}.crt"
    key_path = cert_path.with_suffix(".key")
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM).decode()
    wanted = [str(entry.value) for entry in _san(names)]
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        fresh = cert.not_valid_after_utc - _now() > datetime.timedelta(days=RENEW_DAYS)
        if _pair(cert, key) and _signed_by(cert, ca_cert) and sorted(_names(cert)) == sorted(wanted) and fresh:
            return cert_path.read_text(), key_path.read_text()
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=BOARD_DAYS))
            .add_extension(x509.SubjectAlternativeName(_san(names)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
            .sign(ca_key, hashes.SHA256()))
    chain = cert.public_bytes(serialization.Encoding.PEM).decode() + ca_pem
    _write_private(key_path, _key_pem(key))
    cert_path.write_text(chain)
    return chain, key_path.read_text()


def read_pair(cert_file: str, key_file: str) -> tuple[str, str]:
    """(certificate PEM, key PEM) the user brings; TlsError when a file is unreadable, not PEM, or the
    certificate is not the key's."""
    try:
        cert_pem = Path(os.path.expanduser(cert_file)).read_text()
        key_pem = Path(os.path.expanduser(key_file)).read_text()
    except OSError as exc:
        raise TlsError(f"ollama_tls_cert/ollama_tls_key: cannot read {exc.filename}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise TlsError(f"ollama_tls_cert/ollama_tls_key: {cert_file} or {key_file} is not PEM text") from None
    try:
        cert = x509.load_pem_x509_certificates(cert_pem.encode())[0]
    except ValueError:
        raise TlsError(f"ollama_tls_cert: {cert_file} is not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise TlsError(f"ollama_tls_key: {key_file} is not an unencrypted PEM private key") from None
    if not _pair(cert, key):
        raise TlsError(f"ollama_tls_cert: {cert_file} is not the certificate of the key {key_file}")
    return cert_pem, key_pem


def tls_files(board: str, names: list[str], entries: list[str], cert_file: str | None, key_file: str | None,
              directory: Path = CA_DIR, environ: dict[str, str] | None = None) -> TlsFiles:
    """Everything ollama_tls puts on `board`: the user's certificate or the CA's, and the key hashes.
    Raises TlsError (one line)."""
    hashes_ = key_hashes(entries, environ)
    if cert_file and key_file:
        cert_pem, key_pem = read_pair(cert_file, key_file)
        return TlsFiles(cert_pem, key_pem, hashes_)
    cert_pem, key_pem = board_certificate(board, names, directory)
    return TlsFiles(cert_pem, key_pem, hashes_, directory / "ca.crt")


def describe(directory: Path = CA_DIR) -> list[str]:
    """What `jetson-ollama ca` prints: the CA's certificate file (made on first use), its fingerprint and
    expiry, then each board certificate kept beside it with its names and expiry."""
    cert, _ = ensure_ca(directory)
    lines = [f"CA certificate (clients trust it): {(directory / 'ca.crt').resolve()}",
             f"  sha256 fingerprint {cert.fingerprint(hashes.SHA256()).hex(':')}, "
             f"valid until {cert.not_valid_after_utc:%Y-%m-%d}"]
    for path in sorted((directory / "boards").glob("*.crt")):
        board = x509.load_pem_x509_certificate(path.read_bytes())
        signed = "" if _signed_by(board, cert) else " (signed by another CA: made again at the next converge)"
        lines.append(f"  board {path.stem}: {', '.join(_names(board))}, valid until "
                     f"{board.not_valid_after_utc:%Y-%m-%d}{signed}")
    return lines


def add_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "ca", help="the CA and API keys of ollama_tls: show the CA, make a key, hash a key",
        description="The controller's side of ollama_tls. Without an action: the CA of .jetson-ollama/ca/ in "
                    "the working directory (made if missing), the file clients trust, and the board "
                    "certificates it signed. new-key: a fresh API key and the line host data takes. hash: "
                    "the sha256: line of a key read on stdin.")
    parser.add_argument("action", nargs="?", choices=("show", "new-key", "hash"), default="show")
    parser.add_argument("--dir", type=Path, default=CA_DIR, help=f"the CA's directory (default {CA_DIR})")
    one_line_errors(parser, "jetson-ollama ca")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "new-key":
        key = secrets.token_urlsafe(32)
        print(f"key (give it to the clients; keep it out of the repository): {key}")
        print(f"host data: ollama_api_keys = [\"{key_hash(key)}\"]")
        return 0
    if args.action == "hash":
        key = sys.stdin.readline().strip()
        if not key:
            print("jetson-ollama ca hash: no key on stdin", file=sys.stderr)
            return 2
        print(key_hash(key))
        return 0
    try:
        print("\n".join(describe(args.dir)))
    except (TlsError, ValueError, OSError) as exc:
        print(f"jetson-ollama ca: {exc}", file=sys.stderr)
        return 1
    return 0
