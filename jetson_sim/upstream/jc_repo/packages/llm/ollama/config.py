"""SIMULATED ollama package: what `jetson-containers build ollama[:VERSION]` can build.

Upstream's config.py declares one package per version; `ollama` alone means the default version.
"""

NAME = "ollama"
GROUP = "llm"
VERSIONS = ("0.4.0", "0.5.7", "0.6.8")
DEFAULT_VERSION = "0.6.8"
DOCKERFILE = "Dockerfile"
# the built-in test pulls this model from the internet; --skip-tests=all skips it (facts section 4)
TEST = "test.py"
TEST_MODEL = "smollm2:135m-instruct-q2_K"
