"""Once per board: passwordless sudo for the SSH user (the sudo password from the environment).

    JETSON_SUDO_PASSWORD=... pyinfra inventories/lab.py deploys/bootstrap.py

This file calls `jetson_ollama.deploys.bootstrap`: an installed package runs the same, from any
directory, as `pyinfra INVENTORY jetson_ollama.deploys.bootstrap`.
"""

from jetson_ollama.deploys import bootstrap

bootstrap()
