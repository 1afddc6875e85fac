"""jetson-ollama: declarative, idempotent pyinfra deploys that take NVIDIA Jetson boards to a
GPU-backed Ollama. Board knowledge lives in `data/`, facts in `facts/`, L4T tables in `releases`."""
