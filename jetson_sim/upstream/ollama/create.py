"""Making and sharing models (docs/facts.md section 7): /api/create (from a local model or from blobs
pushed with /api/blobs/:digest, with a template, system prompt, license, parameters and messages), the
blob endpoints, and /api/push to the registry over the registry's upload protocol (`Creation`, part of
the API handler).
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.error
import urllib.request

from .config import Config
from .handler import Handler
from .structured import as_dict
from .pull import PullError, Puller
from .store import MANIFEST_V2, MODEL_MEDIA, Store, go_manifest_bytes, try_name


DIGEST = re.compile(r"sha256[:-][0-9a-fA-F]{64}")
LAYER_MEDIA = "application/vnd.ollama.image."
CONFIG_MEDIA = "application/vnd.docker.container.image.v1+json"


class CreateError(Exception):
    """A create that fails in the stream: the message, and the status waitForStream answers it with."""

    def __init__(self, message: str, status: int = 500):
        super().__init__(message)
        self.status = status


class Creation(Handler):
    """/api/create, /api/blobs/:digest and /api/push, a part of Api: it uses Api's cfg, store and puller."""

    cfg: Config
    store: Store
    puller: Puller

    def _answer_progress(self, req: dict, items) -> None:
        """streamResponse, or waitForStream when `stream` is false: the last status, or the error with the
        status it carries (500 when none)."""
        if req.get("stream", True) is not False:
            return self._stream(self._errors_in_stream(items))
        last: dict = {}
        try:
            for last in items:  # noqa: B007 - the last item is the answer
                pass
        except (CreateError, PullError) as err:
            return self._json(getattr(err, "status", 500), {"error": str(err)})
        self._json(200, last)

    @staticmethod
    def _errors_in_stream(items):
        try:
            yield from items
        except CreateError as err:
            yield {"error": str(err)}

    # -- blobs

    def head_blob(self):
        """HeadBlobHandler: 400 for a malformed digest, 404 `blob "x" not found`, else an empty 200."""
        if not DIGEST.fullmatch(self.param):
            return self._json(400, {"error": "invalid digest format"})
        if not self.store.blob(self.param).is_file():
            return self._json(404, {"error": f'blob "{self.param}" not found'})
        self._empty(200)

    def create_blob(self):
        """CreateBlobHandler: a blob already there is a 200; else the body is stored, 201, unless its sha256 is
        not the digest (400 `digest mismatch, expected "x", got "y"`)."""
        if not DIGEST.fullmatch(self.param):
            return self._json(400, {"error": "invalid digest format"})
        path = self.store.blob(self.param)
        if path.is_file():
            return self._empty(200)
        got = "sha256:" + hashlib.sha256(self.raw_body).hexdigest()
        if got != self.param.replace("-", ":", 1):
            return self._json(400, {"error": f'digest mismatch, expected "{self.param}", got "{got}"'})
        self.store.ensure()
        path.write_bytes(self.raw_body)
        self._empty(201)

    # -- create

    def create(self):
        """ollama/ollama server/create.go CreateHandler @6a74bba7: `model` (or `name`) must be valid (400
        "invalid model name"), file names relative (400 "file path must be relative"); then in the stream:
        the base from `from` (a local model: `using existing layer` for each of its layers) or from `files`
        (blobs pushed before: 400 when one is missing), the template, system, license, parameters and
        messages replacing the base's layers of that kind ("creating new layer"), "writing manifest",
        "success". Neither `from` nor `files`: "neither 'from' or 'files' was specified" (400 with stream
        false). Pulling a `from` that is not local and quantizing are not simulated (an error in the stream)."""
        req = self._request()
        if req is None:
            return
        files = as_dict(req.get("files"))
        if any(f.startswith("/") or ".." in f.split("/") for f in files):
            return self._json(400, {"error": "file path must be relative"})
        name = try_name(req.get("model") or req.get("name") or "")
        if name is None:
            return self._json(400, {"error": "invalid model name"})
        self._answer_progress(req, self._create_steps(req, name, files))

    def _new_layer(self, media: str, data: bytes) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = self.store.blob(digest)
        if not path.is_file():
            path.write_bytes(data)
        return {"mediaType": media, "digest": digest, "size": len(data)}

    def _create_steps(self, req: dict, name, files: dict):
        base_config: dict = {}
        layers: list[dict] = []
        if req.get("from"):
            source = self._local(req["from"])
            if try_name(req["from"]) is None:
                raise CreateError("invalid model name", 400)
            if source is None:
                raise CreateError(f"pull model manifest: model '{req['from']}' not found locally (pulling a base "
                                  "in create is not simulated)")
            manifest = source[2]
            try:
                base_config = json.loads(self.store.blob(manifest["config"]["digest"]).read_bytes())
            except (OSError, ValueError):
                base_config = {}
            layers = [dict(layer) for layer in manifest["layers"]]
        elif files:
            yield {"status": "parsing GGUF"}
            for digest in files.values():
                path = self.store.blob(str(digest))
                if not DIGEST.fullmatch(str(digest)) or not path.is_file():
                    raise CreateError(f"open {path}: no such file or directory", 400)
                layers.append({"mediaType": MODEL_MEDIA, "digest": str(digest).replace("-", ":", 1),
                               "size": path.stat().st_size})
        else:
            raise CreateError("neither 'from' or 'files' was specified", 400)
        if req.get("quantize") or req.get("quantization"):
            raise CreateError("quantization is only supported for F16 and F32 models", 500)
        for layer in layers:
            yield {"status": f"using existing layer {layer['digest']}"}
        texts = {"template": req.get("template"), "system": req.get("system")}
        license_value = req.get("license")
        licenses = [license_value] if isinstance(license_value, str) else list(license_value or [])
        for kind, value in texts.items():
            if isinstance(value, str) and value:
                layers = [layer for layer in layers if layer["mediaType"] != LAYER_MEDIA + kind]
                layers.append(self._new_layer(LAYER_MEDIA + kind, value.encode()))
                yield {"status": f"creating new layer {layers[-1]['digest']}"}
        for text in licenses:
            if isinstance(text, str) and text:
                layers.append(self._new_layer(LAYER_MEDIA + "license", text.encode()))
                yield {"status": f"creating new layer {layers[-1]['digest']}"}
        for kind, value in (("params", req.get("parameters")), ("messages", req.get("messages"))):
            if value:
                layers = [layer for layer in layers if layer["mediaType"] != LAYER_MEDIA + kind]
                layers.append(self._new_layer(LAYER_MEDIA + kind, json.dumps(value).encode()))
                yield {"status": f"creating new layer {layers[-1]['digest']}"}
        config = {**base_config, "model_format": base_config.get("model_format", "gguf"),
                  "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]}}
        config_layer = self._new_layer(CONFIG_MEDIA, json.dumps(config).encode())
        yield {"status": "writing manifest"}
        manifest = {"schemaVersion": 2, "mediaType": MANIFEST_V2, "config": config_layer, "layers": layers}
        self.store.write_manifest(name, go_manifest_bytes(manifest))
        yield {"status": "success"}

    def _local(self, text):
        raise NotImplementedError

    # -- push

    def push(self):
        """ollama/ollama server/routes.go PushHandler and server/images.go PushModel @6a74bba7: "retrieving
        manifest", for each layer and the config a HEAD on the registry's blob (there: one "pushing <12 hex>"
        with completed = total) else an upload (POST .../blobs/uploads/, then the blob in one PUT
        <location>?digest=, where Ollama PATCHes it in parts first: unverified), "pushing manifest" (PUT),
        "success". A model not here fails in the stream; a registry answer of 400 and up is `<status>:
        <body>` (makeRequestWithRetry). The fleet's simulated registry takes no uploads: a push there fails."""
        req = self._request()
        if req is None:
            return
        text = req.get("model") or req.get("name") or ""
        if not text:
            return self._json(400, {"error": "model is required"})
        self._answer_progress(req, self._push_steps(text, bool(req.get("insecure"))))

    def _registry_call(self, method: str, url: str, data: bytes | None = None, headers: dict | None = None):
        """makeRequestWithRetry's outcomes: the response, None for a 404, CreateError for 400 and up."""
        request = urllib.request.Request(url, data=data, method=method,
                                         headers={"User-Agent": self.cfg.user_agent, **(headers or {})})
        try:
            return urllib.request.urlopen(request, timeout=30)
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise CreateError(f"{err.code}: {err.read().decode(errors='replace')}") from None
        except (urllib.error.URLError, OSError) as err:
            raise CreateError(f"{method} {url}: {getattr(err, 'reason', err)}") from None

    def _push_steps(self, text: str, insecure: bool):
        yield {"status": "retrieving manifest"}
        name = try_name(text)
        found = self._local(text) if name else None
        if not name or not found:
            path = self.store.manifests / name.rel_path if name else text
            raise CreateError(f"open {path}: no such file or directory")
        base = self.puller.base_url(name, insecure)
        repo = f"{base}/v2/{name.namespace}/{name.model}"
        manifest = found[2]
        for layer in [*manifest["layers"], manifest["config"]]:
            status = {"status": f"pushing {layer['digest'][7:19]}", "digest": layer["digest"], "total": layer["size"]}
            head = self._registry_call("HEAD", f"{repo}/blobs/{layer['digest']}")
            if head is not None:
                yield {**status, "completed": layer["size"]}
                continue
            started = self._registry_call("POST", f"{repo}/blobs/uploads/", b"")
            location = (started.headers.get("Docker-Upload-Location") or started.headers.get("Location") or "") \
                if started else ""
            if not location:
                raise CreateError(f"POST {repo}/blobs/uploads/: no upload location")
            if location.startswith("/"):
                location = base + location
            yield {**status, "completed": 0}
            data = self.store.blob(layer["digest"]).read_bytes()
            separator = "&" if "?" in location else "?"
            self._registry_call("PUT", f"{location}{separator}digest={layer['digest']}", data,
                                {"Content-Type": "application/octet-stream"})
            yield {**status, "completed": layer["size"]}
        yield {"status": "pushing manifest"}
        self._registry_call("PUT", f"{repo}/manifests/{name.tag}", found[1], {"Content-Type": MANIFEST_V2})
        yield {"status": "success"}
