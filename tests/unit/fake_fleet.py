"""What the stand-in deploys of test_runner_fake.py record while pyinfra runs them in the test process."""

from __future__ import annotations

RESULTS: dict[str, dict] = {}   # as jetson_ollama.stages.gate.RESULTS: filled by the stand-in gate
SEEN: dict[str, dict] = {}      # host name -> the data the stand-in deploy read on that host
