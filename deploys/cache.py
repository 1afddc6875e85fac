"""The fleet cache: a LAN image registry and model store on the host named by `jetson_cache_host`, and
every board's docker trusting that registry. `deploys/full.py` runs this stage too; alone:

    pyinfra inventories/lab.py deploys/cache.py
"""

from jetson_ollama.stages.cache import fleet_cache

fleet_cache()
