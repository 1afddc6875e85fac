"""pyinfra operations: `jetson_containers` (the pinned checkout and its install.sh) and `ollama` (the
image, pulled or built, the container run with `docker run`, and the wait for its API). Each reads the
facts of `jetson_ollama.facts`, yields the fewest commands, or says why nothing is needed."""
