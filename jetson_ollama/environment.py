"""Ollama's environment on a board (docs/facts.md section 5), made from its settings: `ollama_environment`."""

from __future__ import annotations

from .defaults import Settings


def ollama_environment(settings: Settings, jetpack_major: int | str) -> dict[str, str]:
    """Ollama's environment (docs/facts.md section 5) for the board's `jetson_runtime`, sorted by name, all strings.

    OLLAMA_HOST is where the API listens (`Settings.api_listen`: the LAN address with ollama_allow_from).
    In a container, OLLAMA_MODELS is the mount point `ollama_container_models_dir`, and JETSON_JETPACK
    tells Ollama which CUDA bundle to use, or it may fall back to CPU (ollama #9503); it is set for
    JetPack 5 and 6 only (JetPack 7 uses SBSA CUDA: unverified). Native (ollama.service), OLLAMA_MODELS
    is `ollama_models_dir` itself, the store the container mounts, and JETSON_JETPACK is left out:
    only a container cannot detect JetPack (docs/facts.md section 5). `jetpack_major` may be 6, "6" or a full
    JetPack version such as "6.2.1".
    """
    jetpack = str(jetpack_major).split(".")[0]
    native = settings.jetson_runtime == "native"
    environment = {
        "OLLAMA_HOST": settings.api_listen,
        "OLLAMA_MODELS": settings.ollama_models_dir if native else settings.ollama_container_models_dir,
        "OLLAMA_KEEP_ALIVE": str(settings.ollama_keep_alive),
        "OLLAMA_NUM_PARALLEL": str(settings.ollama_num_parallel),
        "OLLAMA_MAX_LOADED_MODELS": str(settings.ollama_max_loaded_models),
        "OLLAMA_CONTEXT_LENGTH": str(settings.ollama_context_length),
        "OLLAMA_FLASH_ATTENTION": "1" if settings.ollama_flash_attention else "0",
    }
    if jetpack in ("5", "6") and not native:
        environment["JETSON_JETPACK"] = jetpack
    return dict(sorted(environment.items()))
