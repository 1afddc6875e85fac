"""pyinfra facts: `jetson` (the board: L4T, devicetree, memory, CUDA, nvidia-smi, disk),
`docker` (engine and its runtimes), `ollama` (port and API). Each cites the facts-file section it parses."""
