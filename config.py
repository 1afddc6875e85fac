"""pyinfra's config file: pyinfra runs it from the directory it runs in (here, the repository root)
before it reads the inventory. It makes the run check every host's `jetson_*`/`ollama_*` data before
connecting to any host, and stop with every problem line, and makes a syntax error in an inventory or
group_data file one line (jetson_ollama/hostdata.py: `install`, which importing jetson_ollama.deploys
also runs, so `pyinfra INVENTORY jetson_ollama.deploys.full` needs no config.py)."""

from jetson_ollama.hostdata import install

install()
