"""Offline bundles: what an inventory's boards need from the internet, fetched once on the controller
into one tar, from which `deploys/full.py` with `jetson_bundle: <path>` installs with no internet.

    python -m jetson_ollama bundle inventories/lab.py --l4t 36.4.3,35.4.1 -o site.tar

The bundle holds, for the hosts of the inventory (no board is contacted; the controller fetches from
upstream itself):

- `images/<repository>_<tag>.tar`: per image variant a `docker load` archive (image_archive.py) of
  the prebuilt `dustynv/ollama` image each board's settings choose for each L4T release given with
  `--l4t` (a board's L4T is not known without contacting it: give the releases of the site's boards;
  `pyinfra INVENTORY deploys/facts.py` prints them while they are online). A release for which a
  board's settings would build an image is skipped with a note: a build needs the internet (the
  deploy then refuses such a board with one line). `jetson_image_strategy: reuse` needs no image.
- `models/`: an Ollama store (`manifests/registry.ollama.ai/library/<name>/<tag>`, `blobs/sha256-<hex>`)
  with every model the hosts list in `ollama_models`. A host with `ollama_models: auto` picks by its
  RAM on the board, which the controller does not know: `--models TAG,...` names what to bundle for
  such hosts (the board's pick must be among them), else the command refuses with one line.
- `native/v<version>/`: for hosts with `jetson_runtime: native`, the release archives
  (`ollama-linux-arm64.tgz` and the `-jetpack6`/`-jetpack5` one of each given L4T) and
  `sha256sum.txt` from `<ollama_native_url>/v<version>/`, checked against it and against the lock's
  `ollama-native` pins (pinned on first download as `v<version>/<file>`).
- `models.lock`: the site's lock after the models were fetched (first fetches are pinned like first
  pulls; a locked model must come with its locked manifest).
- `index.json`, the first member: what is where, per host what it needs, and the sha256 and size of
  every other member. The tar is deterministic: same inputs, same bytes (sorted members, no times
  or owners).

The deploy side (`open_bundle`) reads index.json, checks that the tar holds exactly its members, and
hands out members as file objects; the boards check every file's sha256 again before using it.

The package: read.py is the deploy side (`Bundle`, `open_bundle`, `board_problem`: what plan.py and
the stages import; it imports neither runner.py nor plan.py), build.py the controller side
(`plan_bundle`, `build_bundle`, `summary`), cli.py the command. The names of build.py and cli.py are
imported from this package on first use, so importing it for the deploy side loads read.py alone.
"""


from __future__ import annotations

from importlib import import_module

from .read import (FORMAT, INDEX, LOCK_MEMBER, MODELS_DIR, NATIVE_SUMS, REGISTRY_HOST, VERSION, Bundle, BundleError,
                   MemberFile, blob_member, board_problem, model_manifest_member, open_bundle)

_LAZY = {
    "build": ("CHUNK", "DEFAULT_WORK", "FETCH_SCRIPT", "NATIVE_ARCHIVE", "NATIVE_PINS", "BundlePlan", "Native",
              "Written", "build_bundle", "human", "image_member", "plan_bundle", "sha256_file", "summary"),
    "cli": ("add_command", "run"),
}
_HOME = {name: module for module, names in _LAZY.items() for name in names}

__all__ = ["FORMAT", "INDEX", "LOCK_MEMBER", "MODELS_DIR", "NATIVE_SUMS", "REGISTRY_HOST", "VERSION", "Bundle",
           "BundleError", "MemberFile", "blob_member", "board_problem", "model_manifest_member", "open_bundle",
           *_HOME]


def __getattr__(name: str):
    # the controller side on first use: importing the package for the deploy side stays light
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_HOME[name]}", __name__), name)
    globals()[name] = value
    return value
