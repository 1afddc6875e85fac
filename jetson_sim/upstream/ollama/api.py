"""The REST API (docs/facts.md sections 5 and 12): `Api`, the routes and the endpoints that generation,
embeddings, the OpenAI layer and creation leave (version, tags, pull, delete, copy, show, ps), and
`serve`, the `ollama serve` that binds it and prunes the store first.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import sys
import time
from http.server import ThreadingHTTPServer

from .board import jetpack_major, mem_available
from .config import Config, human_bytes2, log, rfc3339
from .compat import OpenAI
from .create import Creation
from .embed import Embedding, embedding_length
from .generate import Generation
from .handler import Handler
from .pull import PullError, Puller
from .scheduler import Scheduler
from .store import MODEL_MEDIA, Name, Store, layer_digests, try_name


FILE_TYPES = {"F32": 0, "F16": 1, "Q4_0": 2, "Q8_0": 7, "Q2_K": 10, "Q4_K_M": 15, "Q5_K_M": 17, "Q6_K": 18}


class Api(Generation, Embedding, OpenAI, Creation, Handler):
    """The endpoints; serve() binds a subclass with the server's cfg, store, sched and puller."""

    cfg: Config
    store: Store
    sched: Scheduler
    puller: Puller

    # the routes of ollama/ollama server/routes.go GenerateRoutes @6a74bba7 (v0.6.8; alike @v0.11.8): all of
    # docs/api.md and docs/openai.md there
    ROUTES = {
        "HEAD": {"/": "root", "/api/version": "version", "/api/tags": "tags"},
        "GET": {"/": "root", "/api/version": "version", "/api/tags": "tags", "/api/ps": "ps",
                "/v1/models": "v1_models"},
        "POST": {"/api/pull": "pull", "/api/push": "push", "/api/generate": "generate", "/api/chat": "chat",
                 "/api/show": "show", "/api/copy": "copy", "/api/create": "create", "/api/embed": "embed",
                 "/api/embeddings": "embeddings", "/v1/chat/completions": "v1_chat",
                 "/v1/completions": "v1_completions", "/v1/embeddings": "v1_embeddings"},
        "DELETE": {"/api/delete": "delete"},
    }
    PARAM_ROUTES = {"HEAD": {"/api/blobs/": "head_blob"}, "POST": {"/api/blobs/": "create_blob"},
                    "GET": {"/v1/models/": "v1_model"}}
    # the routes a release before the rule's does not have (VERSION_RULES route_*)
    ROUTE_RULES = {"head_blob": "route_blobs", "create_blob": "route_blobs", "v1_chat": "route_v1_chat",
                   "v1_completions": "route_v1_completions_models", "v1_models": "route_v1_completions_models",
                   "v1_model": "route_v1_completions_models", "embed": "route_embed",
                   "v1_embeddings": "route_v1_embeddings"}

    def _has_route(self, name: str) -> bool:
        return name not in self.ROUTE_RULES or self.cfg.since(self.ROUTE_RULES[name])

    # -- endpoints

    def root(self):
        self._text(200, "Ollama is running")

    def version(self):
        self._json(200, {"version": self.cfg.version})

    def _details(self, manifest: dict) -> dict:
        try:
            config = json.loads(self.store.blob(manifest["config"]["digest"]).read_bytes())
        except (OSError, ValueError, KeyError):
            config = {}
        family = config.get("model_family", "")
        return {"parent_model": "", "format": config.get("model_format", "gguf"), "family": family,
                "families": config.get("model_families") or ([family] if family else None),
                "parameter_size": config.get("model_type", ""), "quantization_level": config.get("file_type", "")}

    def tags(self):
        """ollama/ollama server/routes.go ListHandler @v0.11.8 (alike @v0.6.8): a model whose config blob
        cannot be read is left out; newest first by the manifest's mtime in whole seconds."""
        models = []
        for name, path in self.store.all():
            try:
                raw = path.read_bytes()
                manifest = json.loads(raw)
                size = sum(layer["size"] for layer in manifest["layers"]) + manifest["config"]["size"]
                json.loads(self.store.blob(manifest["config"]["digest"]).read_bytes())
                mtime = path.stat().st_mtime
            except (OSError, ValueError, KeyError, TypeError):
                continue
            models.append({"name": name.display, "model": name.display, "modified_at": rfc3339(mtime),
                           "size": size, "digest": hashlib.sha256(raw).hexdigest(),  # docs/facts.md section 5
                           "details": self._details(manifest), "_mtime": int(mtime)})
        models.sort(key=lambda m: m.pop("_mtime"), reverse=True)
        self._json(200, {"models": models})

    def pull(self):
        req = self._request()
        if req is None:
            return
        text = req.get("model") or req.get("name") or ""
        # VERSION_RULES name_checked_first: an invalid name is a 400 before the stream (also with stream false);
        # before 0.1.40 only an empty one was, and the rest failed in the stream
        if self.cfg.since("name_checked_first") and try_name(text) is None:
            return self._json(400, {"error": "invalid model name"})
        if not text:
            return self._json(400, {"error": "model is required"})
        items = self.puller.pull(text, bool(req.get("insecure")))
        if req.get("stream", True) is False:  # waitForStream: the last progress, or 500 with the error
            last = {}
            try:
                for last in items:  # noqa: B007 - the last item is the answer
                    pass
            except PullError as err:
                return self._json(500, {"error": str(err)})
            return self._json(200, last)
        self._stream(items)

    def _local(self, text) -> tuple[Name, bytes, dict] | None:
        name = try_name(text)
        found = self.store.read(name) if name else None
        return (name, *found) if name and found else None

    def delete(self):
        """ollama/ollama server/routes.go DeleteHandler @v0.11.8 (alike @v0.6.8): `name "x" is invalid` (400),
        `model 'x' not found` (404), else the manifest and the blobs no other manifest lists go, and the answer
        is a 200 with no body (VERSION_RULES delete_empty_body; before 0.1.40 `null`). A loaded model stays
        loaded, as there."""
        req = self._request()
        if req is None:
            return
        text = req.get("model") or req.get("name") or ""
        if self.cfg.since("name_checked_first") and try_name(text) is None:
            return self._json(400, {"error": f'name "{text}" is invalid'})
        found = self._local(text)
        if not found:
            return self._json(404, {"error": f"model '{text}' not found"})
        name, _, manifest = found
        with self.store.lock:
            self.store.manifest_path(name).unlink(missing_ok=True)
            self.store.remove_unreferenced(set(layer_digests(manifest)))
        if self.cfg.since("delete_empty_body"):
            return self._empty(200)
        self._json(200, None)

    def copy(self):
        req = self._request()
        if req is None:
            return
        # ollama/ollama server/routes.go CopyHandler @v0.11.8: both names checked first, a 200 with no body
        source, destination = req.get("source") or "", req.get("destination") or ""
        if try_name(source) is None:
            return self._json(400, {"error": f'source "{source}" is invalid'})
        dest = try_name(destination)
        if dest is None:
            return self._json(400, {"error": f'destination "{destination}" is invalid'})
        found = self._local(source)
        if not found:
            return self._json(404, {"error": f'model "{source}" not found'})
        self.store.write_manifest(dest, found[1])
        self._empty(200)

    def show(self):
        # ollama/ollama server/routes.go ShowHandler and GetModelInfo @v0.11.8 (alike @v0.6.8): no name is a
        # 400 "model is required", an invalid one a 500 "invalid model path" (ErrModelPathInvalid), an absent
        # one a 404
        req = self._request()
        if req is None:
            return
        text = req.get("model") or req.get("name") or ""
        if not text:
            return self._json(400, {"error": "model is required"})
        if try_name(text) is None:
            return self._json(500, {"error": "invalid model path"})
        found = self._local(text)
        if not found:
            return self._json(404, {"error": f"model '{text}' not found"})
        name, _, manifest = found
        texts = {}
        for layer in manifest["layers"]:
            kind = layer["mediaType"].rsplit(".", 1)[-1]
            if kind != "model":
                try:
                    texts[kind] = self.store.blob(layer["digest"]).read_text()
                except OSError:
                    pass
        try:
            params = json.loads(texts.get("params") or "{}")
        except ValueError:
            params = {}
        param_lines = [f"{k:<30} {json.dumps(v)}"
                       for k, vs in params.items() for v in (vs if isinstance(vs, list) else [vs])]
        details = self._details(manifest)
        config = json.loads(self.store.blob(manifest["config"]["digest"]).read_bytes())
        sim = config.get("jetson_sim") or {}
        family = details["family"] or "llama"
        model_blob = next((layer["digest"] for layer in manifest["layers"] if layer["mediaType"] == MODEL_MEDIA), "")
        modelfile = (f"# Modelfile generated by \"ollama show\"\n# To build a new Modelfile based on this, replace "
                     f"FROM with:\n# FROM {name.display}\n\nFROM {self.store.blob(model_blob)}\n"
                     f"TEMPLATE \"\"\"{texts.get('template', '')}\"\"\"\n"
                     + "".join(f"PARAMETER {line}\n" for line in param_lines)
                     + f"LICENSE \"\"\"{texts.get('license', '')}\"\"\"\n")
        self._json(200, {
            "license": texts.get("license", ""), "modelfile": modelfile, "parameters": "\n".join(param_lines),
            "template": texts.get("template", ""), "details": details,
            "model_info": {
                "general.architecture": family,
                "general.file_type": FILE_TYPES.get(details["quantization_level"], 0),
                "general.parameter_count": parameter_count(details["parameter_size"]),
                "general.quantization_version": 2,
                f"{family}.context_length": sim.get("context_length", 0),
                f"{family}.embedding_length": embedding_length(config),
            },
            "capabilities": ["completion"],
            "modified_at": rfc3339(self.store.manifest_path(name).stat().st_mtime),
        })

    def ps(self):
        """ollama/ollama server/routes.go PsHandler @v0.11.8: the longest time left first (whole seconds, a
        stable sort; alike @v0.6.8), and from 0.10.0 context_length, the context of one request slot
        (VERSION_RULES ps_context_length)."""
        models = []
        with self.sched.lock:
            runners = list(self.sched.loaded.values())
        for r in runners:
            if r.expires_at is None and r.keep_alive is None:
                expires = time.time() + 292 * 365.25 * 86400  # forever: Go's max duration ahead
            else:
                expires = r.expires_at or time.time() + (r.keep_alive or 0)
            entry = {"name": r.key, "model": r.key, "size": r.size, "digest": r.digest,
                     "details": self._details(r.manifest), "expires_at": rfc3339(expires), "size_vram": r.size_vram}
            if self.cfg.since("ps_context_length"):
                entry["context_length"] = r.ctx
            models.append((int(expires), entry))
        models.sort(key=lambda item: item[0], reverse=True)
        self._json(200, {"models": [entry for _, entry in models]})


def parameter_count(text: str) -> int:
    match = re.match(r"([\d.]+)\s*([KMB]?)", text or "")
    if not match:
        return 0
    return int(float(match[1]) * {"K": 1e3, "M": 1e6, "B": 1e9, "": 1}[match[2]])


def serve() -> int:
    cfg = Config()
    store = Store(cfg.models)
    store.ensure()
    if cfg.noprune:
        log("INFO", "not pruning unused blobs: OLLAMA_NOPRUNE set")
    else:
        log("INFO", f"total unused blobs removed: {store.prune()}")  # docs/facts.md section 5: pruned at start-up
    sched = Scheduler(cfg, store)
    handler = type("BoundApi", (Api,), {"cfg": cfg, "store": store, "sched": sched, "puller": Puller(cfg, store)})
    family = socket.AF_INET6 if ":" in cfg.host else socket.AF_INET
    server_class = type("Server", (ThreadingHTTPServer,), {"address_family": family, "daemon_threads": True})
    try:
        server = server_class((cfg.host, cfg.port), handler)
    except OSError as err:
        print(f"Error: listen tcp {cfg.host}:{cfg.port}: bind: {(err.strerror or str(err)).lower()}", file=sys.stderr)
        return 1

    def stop(*_):
        raise SystemExit(0)  # unwinds serve_forever in the main thread; the finally below cleans up

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log("INFO", "server config", OLLAMA_MODELS=str(cfg.models), OLLAMA_KEEP_ALIVE=cfg.keep_alive,
        OLLAMA_NUM_PARALLEL=cfg.num_parallel, OLLAMA_MAX_LOADED_MODELS=cfg.max_loaded,
        OLLAMA_CONTEXT_LENGTH=cfg.context_length, OLLAMA_FLASH_ATTENTION=cfg.flash_attention,
        OLLAMA_SIM_REGISTRY=cfg.registry or "(unset)")
    log("INFO", f"Listening on {cfg.host}:{cfg.port} (version {cfg.version})")
    free = mem_available(cfg)
    if sched.gpu:
        log("INFO", "inference compute", id="GPU-0", library="cuda", variant=f"jetpack{jetpack_major(cfg)}",
            name="Orin", available=human_bytes2(free or 0))
    else:
        # docs/facts.md section 5 (ollama #9503): e.g. no JETSON_JETPACK in the container
        if os.path.exists(cfg.gpu_marker):
            log("WARN", sched.cpu_reason)
        log("INFO", "no compatible GPUs were discovered")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        sched.unload_all()  # the runners die with the server: give the board its memory back
        if sched.gpu:
            sched.write_gr3d(0)
        server.server_close()
    return 0
