"""SIMULATED `ollama` (server and CLI), what the simulated boards' ollama image runs. Not Ollama.

Stdlib only (Python 3.11): the boards have python3 and no pip packages. One file, so an image needs
one COPY: the script that `python -m jetson_sim.upstream.ollama.build` joins from the modules of the
package jetson_sim/upstream/ollama/ (and prints the path of).
Install it as /usr/local/bin/ollama (a symlink works: the command is read from argv):

    ollama serve | pull MODEL | list | ps | rm MODEL... | run MODEL [PROMPT] | stop MODEL | cp SRC DST
           | show MODEL | --version

Behaviour follows docs/facts.md (cited "docs/facts.md section N"): the REST API and
its NDJSON streams, the on-disk model store, pruning at start-up and the environment of docs/facts.md section 5;
model sizes, KV cache and the speed anchors of docs/facts.md section 6; the registry's 412 for old clients (section 4);
the API as clients use it (embeddings, the OpenAI-compatible /v1 routes, create and push, JSON formats, tool
calls, CORS, streams paced at the reported speed) of docs/facts.md section 7.
Anything else is marked "unverified" where it is modelled.

Environment, as the real one reads it (docs/facts.md section 5):
  OLLAMA_HOST               listen / connect address, default 127.0.0.1:11434 (bare `0.0.0.0` -> port 11434)
  OLLAMA_MODELS             model store, default ~/.ollama/models
  OLLAMA_KEEP_ALIVE         how long an idle model stays loaded: `5m` (default), `30s`, `1h`, `-1` (forever), `0`
  OLLAMA_NUM_PARALLEL       parallel requests per model; the KV cache grows with it. Unset (0) the real server
                            tries 2, then 1 where 2 does not fit (server/sched.go defaultParallel @6a74bba7); the
                            simulator takes 1 (the deploy always sets it)
  OLLAMA_MAX_LOADED_MODELS  loaded models before the least recently used is evicted; unset (0): 3 per GPU whose
                            free memory is reliable, else 1 per GPU (server/sched.go defaultModelsPerGPU
                            @6a74bba7); the simulator takes 3 (the deploy always sets it)
  OLLAMA_CONTEXT_LENGTH     context window per request slot, default 4096 (envconfig/config.go @6a74bba7)
  OLLAMA_FLASH_ATTENTION    `1` enables flash attention (needed by OLLAMA_KV_CACHE_TYPE=q8_0/q4_0)
  OLLAMA_KV_CACHE_TYPE      f16 (default), q8_0 (half the KV bytes), q4_0 (a quarter)
  OLLAMA_GPU_OVERHEAD       bytes reserved on top of each model (docs/facts.md section 5: bytes, so `256` is nothing)
  OLLAMA_NOPRUNE            keep unreferenced blobs at start-up and after a pull
  JETSON_JETPACK            set (5/6) for the GPU to be used inside a container (docs/facts.md section 5, ollama #9503);
                            natively it is read from /etc/nv_tegra_release (R35 -> 5, R36 -> 6)

Simulator-only environment (never on a real board):
  OLLAMA_SIM_VERSION     the version this build reports and sends in its User-Agent, default 0.6.8
  OLLAMA_SIM_BEHAVES_AS  the release whose code this build runs, for the version rules below (VERSION_RULES);
                         default: OLLAMA_SIM_VERSION when that starts with a release number other than 0.0.0,
                         else 0.6.8. A source build stamped "0.0.0" or a bare git hash sets it (images.py)
  OLLAMA_SIM_REGISTRY    base URL of the simulated registry that stands in for registry.ollama.ai,
                         default http://registry.ollama.ai:11500: simulated boards resolve that name to
                         their bridge, where the fleet's simulated registry listens (and nothing else)
  JETSON_SIM_PROFILE     board profile JSON, default /etc/jetson-sim/profile.json (memory.bandwidth_gbps,
                         memory.mem_total_mb); missing: an Orin Nano's 68 GB/s is assumed
  JETSON_SIM_GPU         marker file that exists when the container has the NVIDIA runtime (and on a
                         Jetson board itself), default /run/jetson-sim/gpu
  JETSON_SIM_TEGRA_RELEASE  where the L4T release line is read natively, default /etc/nv_tegra_release
  JETSON_SIM_MEMINFO     where MemAvailable is read, default /proc/meminfo (on a board: the simulated one)
  JETSON_SIM_GR3D        the simulated GPU load file tegrastats reads, default /run/jetson-sim/gr3d;
                         written only when its directory exists
  JETSON_SIM_TIME_SCALE  wall seconds slept per simulated second, default 0.02 (0: no sleeping). Reported
                         durations are always the simulated (realistic) ones. Keep-alive runs on the wall clock.
  JETSON_SIM_STREAM_PACE wall seconds per simulated second between streamed tokens, default 1: a client that
                         times a stream sees the eval_count/eval_duration speed it reports (0: no pacing)

Models come from the simulated registry (ollama_registry.py) with their model layer shrunk by its
--scale; the config blob's "jetson_sim" object carries the real size, KV bytes per token and context
length, so memory and speed are computed for the real model while the disk holds the small one.

Version rules: what changed between releases in the endpoints simulated here is keyed on the release
the server behaves as (VERSION_RULES, each with the first release that has it and where it was read in
ollama/ollama). Everything else behaves as v0.11.8 and v0.6.8 do alike.

GPU or CPU, decided at start-up (`gpu_decision`): in a container (no lib/ollama beside this file, the
jetson-containers image) the GPU needs the NVIDIA runtime's marker and JETSON_JETPACK, as before. Run
natively from an official release's layout (bin/ollama with lib/ollama/ beside it, what
github_releases.py serves), it needs the matching lib/ollama/cuda_jetpack<N> bundle and the right to
open the GPU's device nodes, which on a Jetson belong to the video and render groups (root may too);
otherwise it runs on the CPU (size_vram 0). The install layout's details are unverified.

The modules, in the order the script holds them: versions.py (VERSION_RULES), config.py (the
environment), store.py (names and the model store), pull.py (the registry pull), board.py (profile,
memory, GPU or CPU), scheduler.py (loading, memory and speed), handler.py (HTTP plumbing and CORS),
structured.py (JSON formats and tool calls), generate.py (generate and chat), embed.py (embeddings),
compat.py (the OpenAI-compatible /v1 API), create.py (create, blobs, push), api.py (the other endpoints
and `serve`), cli.py (the client). They share
one namespace in the script: a top-level name is defined in one module only.
"""
