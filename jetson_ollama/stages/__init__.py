"""One `@deploy` per stage of the deployment log, in the order `jetson_ollama.deploys.full` runs them."""
