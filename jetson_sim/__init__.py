"""Simulated Jetson boards and their upstream, for tests and the zero-hardware demo.

The library (`jetson_ollama`) never imports this package: it talks to simulated boards exactly as it
talks to real ones, over SSH.
"""
