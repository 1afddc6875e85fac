"""Stage 2: jetson-containers at the pinned commit:

    pyinfra inventories/lab.py deploys/jetson_containers.py

This file calls `jetson_ollama.deploys.jetson_containers`: an installed package runs the same, from any
directory, as `pyinfra INVENTORY jetson_ollama.deploys.jetson_containers`.
"""

from jetson_ollama.deploys import jetson_containers

jetson_containers()
