"""Settings for every board of inventory.py (pyinfra's group "all"); a group's own file,
group_data/<group>.py, or the group's data dict in inventory.py overrides them.

Each setting below is commented out at its default: uncomment and change the ones you want. Every
setting and its default: `python -m jetson_ollama.config` (the table of jetson_ollama/defaults.py).
Check them without contacting a board: `jetson-ollama check inventory.py`.
"""

# ---- The models: which, and how they are chosen

# model tags for this board (name:tag), or "auto" (the first green model of ollama_models_auto)
# (default: ollama_models = []) "auto": each board gets the largest model that stays in the green
ollama_models = "auto"

# strict (refuse red and black) | warn | off: what to do with a model the memory estimate puts at >= 85 % of RAM
# ollama_memory_policy = "strict"

# allow tags not in the catalog (sizes read from the registry manifest)
# ollama_allow_unknown_models = False

# opt-in: remove models not in the set
# ollama_prune_models = False

# the lock of model manifests, relative to the directory pyinfra runs in; commit it
# ollama_lock_file = "models.lock"

# accept upstream retags and rewrite their lock entries
# ollama_update_lock = False

# ---- The Ollama service

# Ollama version to build (`ollama:<version>`) or to require of a prebuilt image; None: the package default
# ollama_version = None

# OLLAMA_CONTEXT_LENGTH in tokens, set explicitly because newer Ollama sizes it from all of RAM
# ollama_context_length = 4096

# OLLAMA_KEEP_ALIVE, how long an idle model stays loaded (a Go duration such as 5m, or seconds)
# ollama_keep_alive = "5m"

# OLLAMA_NUM_PARALLEL, requests served at once per model (the KV cache grows with it)
# ollama_num_parallel = 1

# OLLAMA_MAX_LOADED_MODELS, models kept in the shared CPU/GPU memory at once
# ollama_max_loaded_models = 1

# OLLAMA_FLASH_ATTENTION (q8_0 KV cache needs it)
# ollama_flash_attention = True

# networks (CIDRs) admitted to the API; [] keeps it on 127.0.0.1, else it binds to the board's LAN address behind a
# host firewall
# ollama_allow_from = []

# ---- Serving the LAN over HTTPS with keys, warm models, metrics, a web UI (opt-in)

# opt-in: serve the API over HTTPS with API keys (nginx on the board, ollama_tls_port); Ollama itself then listens on
# 127.0.0.1 only
# ollama_tls = False

# the HTTPS port of ollama_tls: on the LAN address with ollama_allow_from (the firewall admits it), else on 127.0.0.1
# ollama_tls_port = 11443

# with ollama_tls, the API keys as sha256:<hex> of each key, or env:NAME (a controller variable holding the key); the
# board keeps only hashes
# ollama_api_keys = []

# models of the set kept warm: loaded with ollama_keep_alive at every start of Ollama (boot, deploy, start-ollama);
# "all": the whole set; []: none
# ollama_preload = []

# opt-in: Prometheus metrics on port 9100 (the node exporter with the board's RAM, GPU, loaded models, last bench and
# quick-test); bound as the API is: 127.0.0.1, or the LAN address with ollama_allow_from
# ollama_metrics = False

# opt-in (needs ollama_tls): Open WebUI on the board, over HTTPS on ollama_webui_port behind the same API keys (a
# login form sets a cookie); its container listens on 127.0.0.1 only
# ollama_webui = False

# the HTTPS port of ollama_webui, on the address of ollama_tls_port (the firewall admits ollama_allow_from)
# ollama_webui_port = 11445

# ---- How Ollama gets onto the board

# how Ollama runs on the board: container (docker, jetson-containers image) | native (the official release,
# ollama.service)
# jetson_runtime = "container"

# how the board gets its Ollama image: prebuilt | build | reuse | auto (prebuilt when one fits, else build)
# jetson_image_strategy = "auto"

# opt-in: write the nvidia runtime into /etc/docker/daemon.json and restart docker (docs/facts.md section 3)
# jetson_configure_docker_runtime = False

# inventory name of the fleet's cache host (LAN image registry + model store); None: every board downloads for itself
# jetson_cache_host = None

# offline bundle on the controller (`python -m jetson_ollama bundle`): install image and models from it, no internet
# jetson_bundle = None

# ---- Board tuning (opt-in)

# opt-in: the nvpmodel power mode by NAME from /etc/nvpmodel.conf, e.g. MAXN_SUPER (ids differ per board,
# docs/facts.md section 3); None: untouched
# jetson_power_mode = None

# opt-in: a systemd unit runs jetson_clocks at every boot (clocks pinned to the power mode's maximum)
# jetson_clocks = False

# opt-in: boot multi-user.target, no desktop: frees about 800 MB, which the memory fit counts at once (applies at the
# next boot)
# jetson_headless = False

# opt-in: a swapfile of this size (512M, 8G) at jetson_swapfile_path, active and in /etc/fstab; None: untouched
# jetson_swapfile_size = None

# opt-in: docker's data-root, e.g. /ssd/docker on NVMe; the current one is copied there when it is empty, and left in
# place
# jetson_docker_data_root = None

# let the tuning stage reboot the board once when a change waits for the next boot (else it logs "reboot needed")
# jetson_allow_reboot = False
