"""Stage 4: the Ollama container as a service:

    pyinfra inventories/lab.py deploys/service.py

This file calls `jetson_ollama.deploys.service`: an installed package runs the same, from any
directory, as `pyinfra INVENTORY jetson_ollama.deploys.service`.
"""

from jetson_ollama.deploys import service

service()
