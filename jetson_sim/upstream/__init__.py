"""Simulated upstream services for the simulated Jetson fleet: the Ollama registry and the `ollama` build."""
