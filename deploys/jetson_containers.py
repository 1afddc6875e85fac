"""Stage 2: jetson-containers at the pinned commit:

    pyinfra inventories/lab.py deploys/jetson_containers.py
"""

from jetson_ollama.stages.jetson_containers import install_jetson_containers

install_jetson_containers()
