"""Structured answers (docs/facts.md section 7): what a request's `format` ("json" or a JSON schema) makes
the model answer, and when and how a request's `tools` make it call one. Deterministic: the same request
gets the same answer.
"""

from __future__ import annotations

import hashlib
import json
import re


def as_dict(value) -> dict:
    """A request's object field, or {} when it is anything else."""
    return value if isinstance(value, dict) else {}


class FormatError(ValueError):
    """A `format` that is neither "json" nor a schema object."""


def parse_format(value) -> dict | str | None:
    """A request's `format` -> None (free text), "json" or the schema (a dict). As ollama/ollama llm/server.go
    Completion @6a74bba7 (v0.6.8) reads the raw JSON: null and "" are free text, "json" is JSON mode, anything
    else must be an object (`invalid format: %q; expected "json" or a valid JSON Schema object`)."""
    if value is None or value == "":
        return None
    if value == "json":
        return "json"
    if isinstance(value, dict):
        return value
    raw = json.dumps(value, separators=(",", ":"))
    raise FormatError(f'invalid format: {json.dumps(raw)}; expected "json" or a valid JSON Schema object')


def _seed(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def schema_value(schema, words: list[str], path: str = "$"):
    """A value that the schema accepts, built from its types: every property of an object (the required ones
    with them), the first of an enum or a union, one item of an array (minItems if more), numbers inside
    minimum/maximum. Strings are words of the answer. $ref and patterns are not followed."""
    if not isinstance(schema, dict):
        return " ".join(words[:3]).strip()
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for union in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(union), list) and schema[union]:
            return schema_value(schema[union][0], words, path)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    seed = _seed(path + " ".join(words))
    if kind == "object":
        props = as_dict(schema.get("properties"))
        names = list(props) + [n for n in schema.get("required") or [] if n not in props]
        return {n: schema_value(props.get(n, {}), words[i:] + words[:i], f"{path}.{n}") for i, n in enumerate(names)}
    if kind == "array":
        count = max(1, int(schema.get("minItems") or 1))
        return [schema_value(schema.get("items", {}), words[i:] + words[:i], f"{path}[{i}]") for i in range(count)]
    if kind in ("integer", "number"):
        low, high = schema.get("minimum", 0), schema.get("maximum", 100)
        low = low if isinstance(low, (int, float)) else 0
        high = high if isinstance(high, (int, float)) and high >= low else low + 100
        value = low + seed % (int(high - low) + 1)
        return int(value) if kind == "integer" else float(value) + 0.5 if value + 0.5 <= high else float(value)
    if kind == "boolean":
        return seed % 2 == 0
    if kind == "null":
        return None
    return " ".join(w.strip() for w in words[:3]).strip() or "text"


def formatted_text(fmt: dict | str, words: list[str]) -> str:
    """The whole answer under a format: JSON mode an object holding the answer's words, a schema a value
    of it (an object with its required properties for the usual object schema)."""
    if fmt == "json":
        return json.dumps({"response": "".join(words).strip()})
    return json.dumps(schema_value(fmt, [w.strip() for w in words]))


def json_pieces(text: str, count: int) -> list[str]:
    """The JSON text cut into `count` tokens or fewer (at least one): streamed, they join to valid JSON."""
    size = max(1, -(-len(text) // max(1, count)))
    return [text[i:i + size] for i in range(0, len(text), size)] or [text]


# words of a tool's name that say nothing of what it does
TOOL_NAME_FILLER = {"get", "set", "the", "and", "for", "with", "from", "fetch", "tool", "call", "func", "function"}


def name_words(name: str) -> list[str]:
    """`get_current_weather`, `getCurrentWeather`, `get-current-weather` -> ["current", "weather"]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [w for w in re.split(r"[\s_.\-]+", spaced.lower()) if len(w) >= 3 and w not in TOOL_NAME_FILLER]


def _string_argument(prompt: str) -> str:
    """A name the prompt mentions: its first run of capitalised words after the first word (`Paris`,
    `New York`), else its last word."""
    tokens = re.findall(r"[A-Za-z][\w'-]*", prompt)
    runs, current = [], []
    for i, token in enumerate(tokens):
        if i > 0 and token[0].isupper() and token.lower() not in ("i", "what", "how"):
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    if runs:
        return " ".join(runs[0])
    return tokens[-1] if tokens else ""


def tool_call(tools, messages: list) -> dict | None:
    """The call a request's tools get, or None for a text answer. The rule: when the last message is the
    user's (not a tool's result), the first tool (in the request's order) of type "function" a word of
    whose name (3+ letters, split at `_`, `-`, `.` and camelCase, filler like "get" left out) the message
    contains is called. Its arguments are the required parameters (all of them when none is required):
    the first of an enum; a string the first capitalised name in the message after its first word (else
    its last word); numbers the message's numbers in order (0 when it runs out); booleans true; arrays []
    and objects {}. The call is Ollama's api.ToolCall: {"function": {"name", "arguments"}}."""
    if not isinstance(tools, list) or not tools or not messages:
        return None
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    if last.get("role") != "user":
        return None
    prompt = str(last.get("content") or "")
    words = set(re.findall(r"[a-z0-9]+", prompt.lower()))
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or tool.get("type", "function") != "function":
            continue
        name = str(function.get("name") or "")
        if not any(w in words or w.rstrip("s") in words for w in name_words(name)):
            continue
        params = as_dict(function.get("parameters"))
        props = as_dict(params.get("properties"))
        wanted = [n for n in params.get("required") or [] if isinstance(n, str)] or list(props)
        numbers = iter(re.findall(r"-?\d+(?:\.\d+)?", prompt))
        arguments = {}
        for arg in wanted:
            spec = as_dict(props.get(arg))
            kind = spec.get("type")
            kind = next((k for k in kind if k != "null"), "string") if isinstance(kind, list) else kind
            if isinstance(spec.get("enum"), list) and spec["enum"]:
                arguments[arg] = spec["enum"][0]
            elif kind in ("integer", "number"):
                text = next(numbers, "0")
                arguments[arg] = int(float(text)) if kind == "integer" else float(text)
            elif kind == "boolean":
                arguments[arg] = True
            elif kind == "array":
                arguments[arg] = []
            elif kind == "object":
                arguments[arg] = {}
            else:
                arguments[arg] = _string_argument(prompt)
        return {"function": {"name": name, "arguments": arguments}}
    return None
