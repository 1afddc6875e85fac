"""pyinfra's config file: pyinfra runs it from the directory it runs in (here, the repository root)
before it reads the inventory. It makes the run check every host's `jetson_*`/`ollama_*` data before
connecting to any host, and stop with every problem line (jetson_ollama/hostdata.py)."""

from pyinfra.context import ctx_state

from jetson_ollama.hostdata import check_before_connecting

if ctx_state.isset():
    check_before_connecting(ctx_state.get())
