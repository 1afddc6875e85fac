"""The opt-in metrics (`ollama_metrics: true`): the Prometheus node exporter on port 9100 and the board's
jetson-ollama metrics through its textfile collector:

    pyinfra inventories/lab.py deploys/metrics.py

This file calls `jetson_ollama.deploys.metrics`: an installed package runs the same, from any
directory, as `pyinfra INVENTORY jetson_ollama.deploys.metrics`.
"""

from jetson_ollama.deploys import metrics

metrics()
