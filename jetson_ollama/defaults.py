"""Every knob of the library and its default: the one place of truth the README table is made from.

Set any of them as pyinfra host or group data (e.g. `group_data/all.py`: `ollama_keep_alive = "10m"`).
Each key has a one-line comment above it; `config.defaults_table()` reads those comments, so keep
each to one line. Facts sections refer to docs/facts.md.
"""

DEFAULTS = {
    # git URL of jetson-containers (docs/facts.md section 4)
    "jetson_containers_repo": "https://github.com/dusty-nv/jetson-containers",
    # pinned jetson-containers commit, a full 40-hex id (upstream moves fast; its image names changed five times in 2025)
    "jetson_containers_commit": "16f7cf4145d9f943230b4c92bc2183853a2aeb30",
    # committer time of a pinned commit this library does not know (git show -s --format=%cI), so a first build can name its image; read from the checkout once it exists
    "jetson_containers_commit_date": None,
    # where jetson-containers is cloned on the board
    "jetson_containers_path": "/opt/jetson-containers",
    # how the board gets its Ollama image: prebuilt | build | reuse | auto (prebuilt when one fits, else build)
    "jetson_image_strategy": "auto",
    # reuse: the image to run (None: the newest compatible local ollama image)
    "jetson_image": None,
    # opt-in: write the nvidia runtime into /etc/docker/daemon.json and restart docker (docs/facts.md section 3)
    "jetson_configure_docker_runtime": False,
    # free GB the docker data root needs before a build (the log's build made a 10.7 GB image)
    "jetson_build_min_free_gb": 11,
    # free GB the docker data root needs before pulling a prebuilt image
    "jetson_pull_min_free_gb": 4,
    # where the board scripts go (start-ollama, quick-test, monitor, bench; links in /usr/local/bin)
    "jetson_scripts_dir": "/opt/jetson-ollama/bin",
    # the fixed prompts `bench` runs through each model, so figures compare across boards and runs
    "jetson_bench_prompts": ["Explain in two sentences what a GPU does.", "Write a haiku about a small computer.",
                             "List three uses of an edge AI device."],
    # tokens `bench` asks of each prompt (num_predict): a fixed length makes tokens/s comparable
    "jetson_bench_num_predict": 64,
    # inventory name of the fleet's cache host (LAN image registry + model store); None: every board downloads for itself
    "jetson_cache_host": None,
    # address boards reach the cache host at; None: its ssh_hostname, else its inventory name
    "jetson_cache_address": None,
    # port of the cache host's image registry (CNCF distribution, Debian's docker-registry), plain HTTP on the LAN
    "jetson_cache_registry_port": 5000,
    # where the registry keeps its images on the cache host (owned by the docker-registry user)
    "jetson_cache_registry_dir": "/var/lib/docker-registry",
    # port of the cache host's read-only HTTP server over its Ollama model store
    "jetson_cache_models_port": 11480,
    # the cache host's Ollama model store (manifests/ and blobs/ as under OLLAMA_MODELS)
    "jetson_cache_models_dir": "/srv/jetson-ollama/models",
    # keep the replaced container stopped as <name>-previous until the health gate passes (set by the rollout)
    "jetson_rollout_keep_previous": False,
    # offline bundle on the controller (`python -m jetson_ollama bundle`): install image and models from it, no internet
    "jetson_bundle": None,
    # opt-in: the nvpmodel power mode by NAME from /etc/nvpmodel.conf, e.g. MAXN_SUPER (ids differ per board, docs/facts.md section 3); None: untouched
    "jetson_power_mode": None,
    # opt-in: a systemd unit runs jetson_clocks at every boot (clocks pinned to the power mode's maximum)
    "jetson_clocks": False,
    # opt-in: boot multi-user.target, no desktop: frees about 800 MB, which the memory fit counts at once (applies at the next boot)
    "jetson_headless": False,
    # opt-in: stop and disable nvargus-daemon, the CSI camera daemon
    "jetson_disable_argus": False,
    # opt-in: swap off JetPack's zram and disable nvzramconfig (its devices go at the next boot)
    "jetson_disable_zram": False,
    # opt-in: a swapfile of this size (512M, 8G) at jetson_swapfile_path, active and in /etc/fstab; None: untouched
    "jetson_swapfile_size": None,
    # the swapfile; its directory must exist (/ssd: the NVMe mount of jetson-containers' setup guide; swap on eMMC/SD is very slow)
    "jetson_swapfile_path": "/ssd/swapfile",
    # opt-in: docker's data-root, e.g. /ssd/docker on NVMe; the current one is copied there when it is empty, and left in place
    "jetson_docker_data_root": None,
    # let the tuning stage reboot the board once when a change waits for the next boot (else it logs "reboot needed")
    "jetson_allow_reboot": False,
    # how Ollama runs on the board: container (docker, jetson-containers image) | native (the official release, ollama.service)
    "jetson_runtime": "container",
    # Ollama version to build (`ollama:<version>`) or to require of a prebuilt image; None: the package default
    "ollama_version": None,
    # native: the pinned official Ollama release (arm64 archive + the board's JetPack bundle, docs/facts.md section 5)
    "ollama_native_version": "0.6.8",
    # native: where the release archives are downloaded from (<url>/v<version>/<archive>), each checked against models.lock
    "ollama_native_url": "https://github.com/ollama/ollama/releases/download",
    # name of the Ollama container on the board
    "ollama_container_name": "ollama",
    # model store on the board, mounted at ollama_container_models_dir
    "ollama_models_dir": "/opt/ollama/models",
    # model store inside the container (OLLAMA_MODELS); never /data, which jetson-containers mounts
    "ollama_container_models_dir": "/ollama/models",
    # OLLAMA_HOST, host:port the API listens on: a loopback address; with ollama_allow_from its address becomes the LAN one
    "ollama_host": "127.0.0.1:11434",
    # networks (CIDRs) admitted to the API; [] keeps it on 127.0.0.1, else it binds to the board's LAN address behind a host firewall
    "ollama_allow_from": [],
    # the LAN IPv4 address the API binds to with ollama_allow_from; None: the board's ssh_hostname
    "ollama_bind_address": None,
    # OLLAMA_KEEP_ALIVE, how long an idle model stays loaded (a Go duration such as 5m, or seconds)
    "ollama_keep_alive": "5m",
    # OLLAMA_NUM_PARALLEL, requests served at once per model (the KV cache grows with it)
    "ollama_num_parallel": 1,
    # OLLAMA_MAX_LOADED_MODELS, models kept in the shared CPU/GPU memory at once
    "ollama_max_loaded_models": 1,
    # OLLAMA_CONTEXT_LENGTH in tokens, set explicitly because newer Ollama sizes it from all of RAM
    "ollama_context_length": 4096,
    # OLLAMA_FLASH_ATTENTION (q8_0 KV cache needs it)
    "ollama_flash_attention": True,
    # seconds to wait for /api/version after (re)starting the container
    "ollama_api_timeout": 120,
    # model tags for this board (name:tag), or "auto" (the first green model of ollama_models_auto)
    "ollama_models": [],
    # preference list for "auto", largest first: the board gets the largest that stays green (docs/facts.md section 6)
    "ollama_models_auto": ["qwen3:32b", "qwen2.5:32b", "qwen3:30b", "qwen3:14b", "qwen2.5:14b", "qwen3:8b",
                           "qwen2.5:7b", "qwen3:4b", "qwen2.5:3b", "qwen3:1.7b", "qwen2.5:1.5b", "qwen2.5:0.5b"],
    # strict (refuse red and black) | warn | off: what to do with a model the memory estimate puts at >= 85 % of RAM
    "ollama_memory_policy": "strict",
    # allow tags not in the catalog (sizes read from the registry manifest)
    "ollama_allow_unknown_models": False,
    # opt-in: remove models not in the set
    "ollama_prune_models": False,
    # where the board's Ollama pulls from (used to read manifests before pulling)
    "ollama_registry": "https://registry.ollama.ai",
    # the lock of model manifests, relative to the directory pyinfra runs in; commit it
    "ollama_lock_file": "models.lock",
    # accept upstream retags and rewrite their lock entries
    "ollama_update_lock": False,
    # None: read from the board (graphical.target is the default target); True/False overrides
    "ollama_desktop": None,
}
