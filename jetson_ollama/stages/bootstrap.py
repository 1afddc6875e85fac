"""Bootstrap: passwordless sudo for the inventory's SSH user, once, so later runs need no password.

    JETSON_SUDO_PASSWORD=... pyinfra inventories/lab.py deploys/bootstrap.py

The password comes from the environment (the example inventory reads JETSON_SUDO_PASSWORD into
`_sudo_password`), never from a file in the repository.
"""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.facts.server import User

from ..operations.board import sudo_nopasswd


@deploy("Bootstrap")
def bootstrap():
    user = host.data.get("ssh_user") or host.get_fact(User, _sudo=False)
    if user == "root":
        logger.info(f"{host.name}: connected as root, no sudo needed")
        return
    sudo_nopasswd(name=f"Passwordless sudo for {user}", user=user, _sudo=True)
