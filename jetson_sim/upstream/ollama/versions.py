"""What changed between Ollama releases in the endpoints simulated here, keyed on the release the
server behaves as: `VERSION_RULES` (each with the first release that has it and where it was read in
ollama/ollama) and `parse_version`. Everything else behaves as v0.11.8 and v0.6.8 do alike.
"""

from __future__ import annotations

import re


DEFAULT_VERSION = "0.6.8"

# Behaviour that changed between Ollama releases: rule -> (the first release that has it, where it was read).
# "ollama/ollama <file> @<tag>" is the tag the behaviour was read at; the commit is the change itself, and
# its first release is `git tag --contains <commit>`.
VERSION_RULES = {
    # the success answer of DELETE /api/delete is an empty 200; before, `null` (c.JSON(200, nil))
    "delete_empty_body": ("0.1.40", "ollama/ollama server/routes.go @v0.1.40 (a2fc933fe)"),
    # /api/pull (and /api/delete) check the model name before anything else: 400 "invalid model name"
    # (delete: `name "x" is invalid`) before the stream; before, only an empty name was refused
    "name_checked_first": ("0.1.40", "ollama/ollama server/routes.go PullHandler, DeleteHandler @v0.1.40 "
                                     "(85a57006d, a2fc933fe)"),
    # load and unload answers carry done_reason "load" / "unload"
    "done_reason": ("0.1.35", "ollama/ollama server/routes.go @v0.1.35 (cfa84b847)"),
    # a pull that leaves layers of the old manifest unused streams "removing unused layers" (only then,
    # and not with OLLAMA_NOPRUNE); before, every pull streamed "removing any unused layers"
    "prune_status_when_unused": ("0.3.7", "ollama/ollama server/images.go PullModel @v0.3.7 (b3f75fc81)"),
    # an empty prompt (no messages) with keep_alive 0 unloads without loading: done_reason "unload";
    # before, the model was loaded for keep_alive 0 and the answer was done_reason "load"
    "unload_request": ("0.3.11", "ollama/ollama server/routes.go GenerateHandler @v0.3.11 (abed273de)"),
    # the server itself opens the model (vocab only) before starting a runner: a corrupt model fails with
    # "unable to load model: <blob path>"; before, the runner died: "llama runner process has terminated: ..."
    "server_opens_model": ("0.6.0", "ollama/ollama llm/server.go NewLlamaServer @v0.6.0 (1fdb351c3)"),
    # /api/ps entries carry context_length (the context per request slot); `ollama ps` has a CONTEXT column
    "ps_context_length": ("0.10.0", "ollama/ollama api/types.go, server/routes.go PsHandler @v0.10.0 (34088dbcf)"),
    # keep_alive as a number keeps its fraction (0.5 is 500ms) and only exactly 0 unloads; before, a number
    # was truncated to whole seconds and anything under 1s (0.5, "100ms") counted as 0
    "exact_keep_alive": ("0.11.8", "ollama/ollama api/types.go, server/routes.go @v0.11.8 (108153243)"),
    # the routes of docs/api.md and docs/openai.md that came after the first releases the simulator serves:
    # before its release a route is gin's 404 "404 page not found"
    "route_blobs": ("0.1.10", "ollama/ollama server/routes.go @v0.1.10 (1552cee59)"),
    "route_v1_chat": ("0.1.24", "ollama/ollama server/routes.go, openai/openai.go @v0.1.24 (453f572f8)"),
    "route_v1_completions_models": ("0.2.0", "ollama/ollama server/routes.go @v0.2.0 (d626b99b5, 996bb1b85)"),
    "route_embed": ("0.2.6", "ollama/ollama server/routes.go EmbedHandler @v0.2.6 (b9f5e16c8)"),
    "route_v1_embeddings": ("0.2.6", "ollama/ollama server/routes.go, openai/openai.go @v0.2.6 (987dbab0b)"),
    # a chat request's tools can be answered with message.tool_calls; before, `tools` was no field (ignored)
    "tools": ("0.2.6", "ollama/ollama api/types.go, server/routes.go ChatHandler @v0.2.6 (d02bbebb1)"),
    # `format` may be a JSON schema (structured outputs); before, it was a string and an object a 400
    "format_schema": ("0.5.0", "ollama/ollama api/types.go @v0.5.0 (630e7dc6f)"),
}


def parse_version(text: str | None) -> tuple[int, int, int] | None:
    """`0.6.8`, `v0.3.12`, `0.1.46-0-gcb42e60` -> (0, 6, 8) ...; None for `0.0.0`, a bare hash or nothing."""
    match = re.match(r"v?(\d+)\.(\d+)\.(\d+)", (text or "").strip())
    if not match:
        return None
    version = (int(match[1]), int(match[2]), int(match[3]))
    return None if version == (0, 0, 0) else version


def release_tuple(text: str) -> tuple[int, int, int]:
    """A release this package names (DEFAULT_VERSION, a rule's first release) -> (0, 6, 8); ValueError
    for anything parse_version does not read."""
    version = parse_version(text)
    if version is None:
        raise ValueError(f"{text!r} is not an Ollama release")
    return version
