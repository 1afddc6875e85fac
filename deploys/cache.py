"""The fleet cache: a LAN image registry and model store on the host named by `jetson_cache_host`, and
every board's docker trusting that registry. `deploys/full.py` runs this stage too; alone:

    pyinfra inventories/lab.py deploys/cache.py

This file calls `jetson_ollama.deploys.cache`: an installed package runs the same, from any
directory, as `pyinfra INVENTORY jetson_ollama.deploys.cache`.
"""

from jetson_ollama.deploys import cache

cache()
