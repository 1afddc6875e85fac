"""Once per board: passwordless sudo for the SSH user (the sudo password from the environment).

    JETSON_SUDO_PASSWORD=... pyinfra inventories/lab.py deploys/bootstrap.py
"""

from jetson_ollama.stages.bootstrap import bootstrap

bootstrap()
