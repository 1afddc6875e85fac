"""ollama_tls in the board's plan: the certificate and key hashes decided there, and every refusal of the
HTTPS API (an unset key variable, a certificate not its key's, an nginx that cannot serve it, its port
taken) made before anything changes on the board."""

from __future__ import annotations

import hashlib

import pytest
from cryptography import x509

from jetson_ollama import tls

from .test_plan import make
from .test_tls import _self_signed

HASH = "sha256:" + hashlib.sha256(b"alpha-key").hexdigest()
LAN = {"ollama_models": ["qwen2.5:0.5b"], "ollama_tls": True, "ollama_api_keys": [HASH],
       "ollama_allow_from": ["10.0.0.0/8"], "ssh_hostname": "10.0.0.5"}
NGINX = {"version": "1.18.0", "ssl": True, "auth_request": True, "packaged_service": "masked"}


@pytest.fixture(autouse=True)
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the CA of the working directory, and models.lock
    return tmp_path


def test_the_plan_holds_a_ca_certificate_for_the_lan_address_and_the_hashes(workdir):
    made = make(LAN, LanAddresses=["10.0.0.5"])
    assert made.refusal is None, made.refusal
    assert made.tls.hashes == (HASH,) and made.tls.ca == tls.CA_DIR / "ca.crt"
    cert = x509.load_pem_x509_certificates(made.tls.cert_pem.encode())[0]
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    assert names.get_values_for_type(x509.DNSName) == ["nano1"]  # the inventory name
    assert make(LAN, LanAddresses=["10.0.0.5"]).tls == made.tls  # a second run: the same files, nothing new
    assert make({"ollama_models": ["qwen2.5:0.5b"]}).tls is None  # off by default


def test_an_environment_key_is_hashed_on_the_controller(monkeypatch):
    monkeypatch.setenv("OLLAMA_KEY_BETA", "beta-key")
    made = make({**LAN, "ollama_api_keys": ["env:OLLAMA_KEY_BETA"]}, LanAddresses=["10.0.0.5"])
    assert made.refusal is None and made.tls.hashes == (tls.key_hash("beta-key"),)
    assert "beta-key" not in repr(made.tls.hashes)


@pytest.mark.parametrize("change, facts, refusal", [
    ({"ollama_api_keys": ["env:NO_SUCH_KEY_VARIABLE"]}, {},
     "ollama_api_keys: env:NO_SUCH_KEY_VARIABLE names a variable that is not set on the controller"),
    ({}, {"NginxBuild": {**NGINX, "auth_request": False}},
     "ollama_tls: the board's nginx 1.18.0 lacks the ssl or auth_request module (Ubuntu's nginx-core has both)"),
    ({}, {"NginxBuild": {**NGINX, "packaged_service": "enabled"}},
     "ollama_tls: nginx.service is enabled on the board (sites of its own?)"),
    ({}, {"PortListener": lambda port=11434: [{"address": "*", "port": port, "process": "caddy"}] if port == 11443
          else []},
     "ollama_tls_port 11443 is already taken by caddy on *"),
    ({}, {"LanAddresses": ["10.0.0.9"]},
     "the API would bind to 10.0.0.5, which is not an address of this board (it has 10.0.0.9"),
])
def test_what_the_https_api_cannot_serve_is_refused_in_the_plan(change, facts, refusal, monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VARIABLE", raising=False)
    made = make({**LAN, **change}, **{"LanAddresses": ["10.0.0.5"], **facts})
    assert made.refusal and made.refusal.startswith(refusal), made.refusal
    assert made.tls is None


def test_a_user_certificate_that_is_not_its_keys_is_refused(workdir):
    cert_a, key_a = _self_signed(workdir, "a")
    _, key_b = _self_signed(workdir, "b")
    made = make({**LAN, "ollama_tls_cert": cert_a, "ollama_tls_key": key_b}, LanAddresses=["10.0.0.5"])
    assert made.refusal == f"ollama_tls_cert: {cert_a} is not the certificate of the key {key_b}"
    good = make({**LAN, "ollama_tls_cert": cert_a, "ollama_tls_key": key_a}, LanAddresses=["10.0.0.5"])
    assert good.refusal is None and good.tls.ca is None and not (workdir / ".jetson-ollama").exists()
