"""ollama_tls on the controller: the settings' checks, the API key hashes, the CA of the working directory
and the board certificates it signs (checked with openssl and Python's ssl, as a client would), a
certificate the user brings, and the plan's refusals."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import ssl
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from jetson_ollama import tls
from jetson_ollama.__main__ import main as cli_main
from jetson_ollama.config import problems, settings

HASH = "sha256:" + hashlib.sha256(b"alpha-key").hexdigest()
TLS = {"ollama_tls": True, "ollama_api_keys": [HASH]}


# ---- settings

@pytest.mark.parametrize("data, line", [
    ({"ollama_tls": True}, "ollama_api_keys: ollama_tls needs at least one API key"),
    ({**TLS, "ollama_api_keys": ["sha256:abc"]}, "ollama_api_keys: must be a list of key hashes"),
    ({**TLS, "ollama_api_keys": [HASH.upper()]}, "ollama_api_keys: must be a list of key hashes"),
    ({**TLS, "ollama_api_keys": [HASH, HASH]}, "ollama_api_keys: lists a key twice"),
    ({**TLS, "ollama_api_keys": HASH}, "ollama_api_keys: must be a list of key hashes"),
    ({**TLS, "ollama_tls_cert": "/etc/board.crt"}, "ollama_tls_key: ollama_tls_cert and ollama_tls_key go together"),
    ({**TLS, "ollama_host": "0.0.0.0:11434", "ollama_allow_from": ["10.0.0.0/8"], "ssh_hostname": "10.0.0.5"},
     "ollama_host: with ollama_tls the API listens on 127.0.0.1 only"),
    ({**TLS, "ollama_tls_port": 11434}, "ollama_tls_port: is the API's own port"),
    ({**TLS, "ollama_tls_port": 0}, "ollama_tls_port: must be a port 1-65535"),
])
def test_bad_tls_settings_are_one_line_each(data, line):
    found = problems(data)
    assert len(found) == 1 and found[0].startswith(line), found


def test_a_clear_key_pasted_as_a_hash_is_not_repeated_in_the_problem_line():
    found = problems({**TLS, "ollama_api_keys": ["my-very-secret-key-1234"]})
    assert len(found) == 1 and "my-very-secret-key-1234" not in found[0] and "'my-v...'" in found[0]


def test_with_tls_the_api_stays_on_127_0_0_1_and_the_proxy_takes_the_lan_address():
    lan = settings({**TLS, "ollama_allow_from": ["10.0.0.0/8"], "ssh_hostname": "10.0.0.5"})
    assert (lan.api_listen, lan.exposed_address, lan.ollama_tls_port) == ("127.0.0.1:11434", "10.0.0.5", 11443)
    alone = settings(TLS)
    assert (alone.api_listen, alone.exposed_address) == ("127.0.0.1:11434", "127.0.0.1")
    plain = settings({"ollama_allow_from": ["10.0.0.0/8"], "ssh_hostname": "10.0.0.5"})
    assert (plain.api_listen, plain.exposed_address) == ("10.0.0.5:11434", "10.0.0.5")
    assert settings().ollama_tls is False and settings().ollama_api_keys == []  # off unless asked


# ---- key hashes

def test_key_hashes_take_hashes_as_given_and_hash_environment_keys():
    assert tls.key_hash("alpha-key") == HASH
    assert tls.key_hashes([HASH, "env:BETA"], {"BETA": "beta-key\n"}) == (HASH, tls.key_hash("beta-key"))
    with pytest.raises(tls.TlsError, match="env:GAMMA names a variable that is not set on the controller"):
        tls.key_hashes(["env:GAMMA"], {})


def test_new_key_prints_a_key_and_its_host_data_line(capsys):
    assert cli_main(["ca", "new-key"]) == 0
    key_line, data_line = capsys.readouterr().out.splitlines()
    key = key_line.rsplit(" ", 1)[1]
    assert len(key) >= 40 and tls.key_hash(key) in data_line
    assert cli_main(["ca", "new-key"]) == 0
    assert capsys.readouterr().out.splitlines()[0].rsplit(" ", 1)[1] != key  # a fresh key each time


def test_hash_reads_one_key_on_stdin(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("alpha-key\n"))
    assert cli_main(["ca", "hash"]) == 0
    assert capsys.readouterr().out.strip() == HASH
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert cli_main(["ca", "hash"]) == 2
    assert capsys.readouterr().err == "jetson-ollama ca hash: no key on stdin\n"


def test_ca_shows_the_file_clients_trust_and_the_boards_it_signed(tmp_path, capsys):
    ca_dir = tmp_path / "ca"
    assert cli_main(["ca", "--dir", str(ca_dir)]) == 0  # made on first use
    first = capsys.readouterr().out.splitlines()
    assert first[0] == f"CA certificate (clients trust it): {(ca_dir / 'ca.crt').resolve()}"
    cert = x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
    assert cert.fingerprint(hashes.SHA256()).hex(":") in first[1] and len(first) == 2
    tls.board_certificate("board1", ["10.0.0.2", "board1"], ca_dir)
    assert cli_main(["ca", "--dir", str(ca_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == first  # the same CA, not a new one
    assert lines[2].startswith("  board board1: 10.0.0.2, board1, valid until ")
    (ca_dir / "ca.key").write_bytes(tls._key_pem(ec.generate_private_key(ec.SECP256R1())))
    assert cli_main(["ca", "--dir", str(ca_dir)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("jetson-ollama ca: ") and err.rstrip().endswith("move them away to make a new CA")
    assert err.count("\n") == 1


# ---- the CA and board certificates

def _cert(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificates(pem.encode())[0]


def test_the_ca_is_made_once_and_its_key_is_private(tmp_path):
    ca_dir = tmp_path / "ca"
    cert, _ = tls.ensure_ca(ca_dir)
    assert stat.S_IMODE((ca_dir / "ca.key").stat().st_mode) == 0o600
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    again, _ = tls.ensure_ca(ca_dir)
    assert again.serial_number == cert.serial_number  # the same CA, not a new one


def test_a_board_certificate_verifies_against_the_ca_for_its_names(tmp_path):
    ca_dir = tmp_path / "ca"
    chain, key_pem = tls.board_certificate("nano-01", ["192.168.55.101", "nano-01"], ca_dir)
    context = ssl.create_default_context(cafile=str(ca_dir / "ca.crt"))
    assert context  # the CA file loads as a client's trust store
    cert = _cert(chain)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["192.168.55.101"]
    assert names.get_values_for_type(x509.DNSName) == ["nano-01"]
    assert stat.S_IMODE((ca_dir / "boards" / "nano-01.key").stat().st_mode) == 0o600
    if shutil.which("openssl"):
        leaf = tmp_path / "leaf.pem"
        leaf.write_text(chain.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n")
        verify = subprocess.run(["openssl", "verify", "-CAfile", str(ca_dir / "ca.crt"), "-purpose", "sslserver",
                                 str(leaf)], capture_output=True, text=True)
        assert verify.returncode == 0, verify.stdout + verify.stderr
    tls.read_pair(str(ca_dir / "boards" / "nano-01.crt"), str(ca_dir / "boards" / "nano-01.key"))  # a pair


def test_a_board_certificate_is_kept_until_names_or_ca_change(tmp_path):
    ca_dir = tmp_path / "ca"
    first = tls.board_certificate("nano-01", ["192.168.55.101"], ca_dir)
    assert tls.board_certificate("nano-01", ["192.168.55.101"], ca_dir) == first  # a second run: the same files
    moved = tls.board_certificate("nano-01", ["192.168.55.102"], ca_dir)
    assert moved != first and "192.168.55.102" in str(_cert(moved[0]).extensions)
    for name in ("ca.crt", "ca.key"):
        (ca_dir / name).unlink()
    renewed = tls.board_certificate("nano-01", ["192.168.55.102"], ca_dir)
    assert renewed != moved  # signed by the new CA
    new_ca = x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
    _cert(renewed[0]).verify_directly_issued_by(new_ca)


def _self_signed(tmp_path: Path, name: str) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    import datetime

    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def test_a_user_certificate_must_be_its_keys(tmp_path):
    cert_a, key_a = _self_signed(tmp_path, "a")
    cert_b, key_b = _self_signed(tmp_path, "b")
    files = tls.tls_files("nano-01", ["10.0.0.5"], [HASH], cert_a, key_a, tmp_path / "ca")
    assert files.ca is None and files.cert_pem == Path(cert_a).read_text() and files.hashes == (HASH,)
    assert not (tmp_path / "ca").exists()  # no CA made for a board with its own certificate
    with pytest.raises(tls.TlsError, match=r"ollama_tls_cert: .*a\.crt is not the certificate of the key .*b\.key"):
        tls.read_pair(cert_a, key_b)
    with pytest.raises(tls.TlsError, match="ollama_tls_cert: .* is not a PEM certificate"):
        tls.read_pair(key_a, key_a)
    with pytest.raises(tls.TlsError, match="cannot read .*missing.crt: No such file"):
        tls.read_pair(str(tmp_path / "missing.crt"), key_a)


def test_the_ca_files_are_made_in_the_working_directory_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = tls.tls_files("nano-01", ["127.0.0.1"], [HASH], None, None)
    assert files.ca == Path(".jetson-ollama/ca/ca.crt") and (tmp_path / ".jetson-ollama/ca/ca.key").exists()
    assert sorted(os.listdir(tmp_path / ".jetson-ollama/ca/boards")) == ["nano-01.crt", "nano-01.key"]
