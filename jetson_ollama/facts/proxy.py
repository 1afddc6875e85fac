"""Facts about the HTTPS proxy of `ollama_tls`: the board's own nginx package (docs/facts.md, "The HTTPS API")."""

from __future__ import annotations

import re

from pyinfra.api import FactBase
from typing_extensions import TypedDict, override


class NginxDict(TypedDict):
    version: str | None        # nginx -V's version; None: no nginx installed
    ssl: bool                  # built with the ssl module (--with-http_ssl_module)
    auth_request: bool         # built with auth_request (--with-http_auth_request_module)
    packaged_service: str | None  # systemctl is-enabled nginx.service: enabled, disabled, masked; None: no unit


class NginxBuild(FactBase[NginxDict]):
    """
    Returns the board's nginx: its version, whether it has the ssl and auth_request modules the proxy
    needs, and the state of the package's own nginx.service (the proxy runs a unit of its own, so the
    package's stays masked). No nginx: ``version`` None.
    """

    @override
    def command(self) -> str:
        return ("/usr/sbin/nginx -V 2>&1 | tr ' ' '\\n' | grep -e '^nginx/' -e '^--with-http_ssl_module$' "
                "-e '^--with-http_auth_request_module$'; systemctl is-enabled nginx.service 2>/dev/null; true")

    @staticmethod
    def default() -> NginxDict:
        return {"version": None, "ssl": False, "auth_request": False, "packaged_service": None}

    @override
    def process(self, output: list[str]) -> NginxDict:
        found = self.default()
        for line in output:
            line = line.strip()
            if match := re.fullmatch(r"nginx/([0-9][0-9A-Za-z.+~-]*)", line):
                found["version"] = match.group(1)
            elif line == "--with-http_ssl_module":
                found["ssl"] = True
            elif line == "--with-http_auth_request_module":
                found["auth_request"] = True
            elif re.fullmatch(r"[a-z-]+", line):
                found["packaged_service"] = line
        return found
