"""The model catalog, the memory estimate against the deployment log, policies, auto, settings."""

import dataclasses
import re

import pytest

from jetson_ollama.config import ConfigError, settings
from jetson_ollama.catalog import (
    TIERS, ModelInfo, auto_models, catalog, estimate, fits, model_info, refusal_message, tier_of,
)
from jetson_ollama.version import Version

NANO_8GB, NX_16GB, AGX_64GB = 7620, 15388, 62841  # MemTotal in MB (docs/facts.md section 1)
# AGX Orin 32GB: not in the facts; 30536 MB is the total of third-party tegrastats lines of that board
# (tegrastats prints MemTotal in MB), unverified
AGX_32GB = 30536
MB, GB = 1024 * 1024, 1024 ** 3
AUTO = settings().ollama_models_auto

# docs/facts.md section 6: download (bytes) and f16 KV cache per token (KiB)
FACTS_TABLE = {
    "qwen2.5:0.5b": (397e6, 12), "qwen2.5:1.5b": (986e6, 28), "qwen2.5:3b": (1.9e9, 36),
    "qwen2.5:7b": (4.7e9, 56), "qwen3:0.6b": (523e6, 112), "qwen3:1.7b": (1.4e9, 112),
    "qwen3:4b": (2.5e9, 144), "qwen3:8b": (5.2e9, 144), "qwen3:14b": (9.3e9, 160),
    "deepseek-r1:1.5b": (1.1e9, 28), "deepseek-r1:7b": (4.7e9, 56), "deepseek-r1:8b": (4.9e9, 128),
    "smollm2:135m": (270e6, 22.5),
}
# not in the facts: the registry manifests' layer sums and KiB per token that data/models.yaml cites
MORE_TABLE = {
    "qwen2.5:14b": (8_988_123_581, 192), "qwen2.5:32b": (19_851_349_181, 256),
    "qwen3:32b": (20_201_253_341, 256), "qwen3:30b": (18_556_698_814, 96),
    "nomic-embed-text:v1.5": (274_302_030, 36), "mxbai-embed-large:335m": (669_615_085, 96),
    "qwen3-embedding:0.6b": (639_150_592, 112), "qwen3-embedding:4b": (2_496_703_776, 144),
    "qwen3-embedding:8b": (4_676_804_928, 144),
}
EMBEDDING = {"nomic-embed-text:v1.5", "mxbai-embed-large:335m", "qwen3-embedding:0.6b", "qwen3-embedding:4b",
             "qwen3-embedding:8b"}

# The architecture behind each kv_bytes_per_token: (layers, KV heads, head dim), from each model's
# config.json: num_hidden_layers, num_key_value_heads, and head_dim or hidden_size / num_attention_heads
# (BERT-style models have no grouped KV: their KV heads are all their heads). The GGUF carries the same
# figures as <arch>.block_count and <arch>.attention.head_count_kv.
ARCHITECTURE = {
    "qwen2.5:0.5b": (24, 2, 64),  # Qwen2.5-0.5B: hidden 896, 14 heads
    "qwen2.5:1.5b": (28, 2, 128),  # hidden 1536, 12 heads
    "qwen2.5:3b": (36, 2, 128),  # hidden 2048, 16 heads
    "qwen2.5:7b": (28, 4, 128),  # hidden 3584, 28 heads
    "qwen2.5:14b": (48, 8, 128),  # hidden 5120, 40 heads (the GGUF: ollama/ollama#9091)
    "qwen2.5:32b": (64, 8, 128),  # hidden 5120, 40 heads
    "qwen3:0.6b": (28, 8, 128),  # Qwen3 sets head_dim 128 explicitly
    "qwen3:1.7b": (28, 8, 128),
    "qwen3:4b": (36, 8, 128),
    "qwen3:8b": (36, 8, 128),
    "qwen3:14b": (40, 8, 128),
    "qwen3:32b": (64, 8, 128),
    "qwen3:30b": (48, 4, 128),  # Qwen3-30B-A3B (Qwen3MoeForCausalLM): 32 query heads, 128 experts, 8 active
    "deepseek-r1:1.5b": (28, 2, 128),  # DeepSeek-R1-Distill-Qwen-1.5B: Qwen2.5-Math-1.5B's shape
    "deepseek-r1:7b": (28, 4, 128),  # Distill-Qwen-7B
    "deepseek-r1:8b": (32, 8, 128),  # Distill-Llama-8B: Llama-3.1-8B's shape
    "smollm2:135m": (30, 3, 64),  # SmolLM2-135M: hidden 576, 9 heads
    "nomic-embed-text:v1.5": (12, 12, 64),  # nomic-bert: n_embd 768, 12 heads
    "mxbai-embed-large:335m": (24, 16, 64),  # BERT-large: hidden 1024, 16 heads
    "qwen3-embedding:0.6b": (28, 8, 128),  # Qwen3-Embedding-*: the shapes of Qwen3-0.6B, -4B, -8B
    "qwen3-embedding:4b": (36, 8, 128),
    "qwen3-embedding:8b": (36, 8, 128),
}


def on(tag, mem_total_mb=NANO_8GB, desktop=True, context_length=4096, num_parallel=1):
    return estimate(model_info(tag), mem_total_mb, desktop, context_length, num_parallel)


def billions(parameters: str) -> float:
    number, unit = float(parameters[:-1]), parameters[-1]
    return number * {"B": 1, "M": 1e-3}[unit]


# ---------------------------------------------------------------- catalog

def test_catalog_holds_every_tag_of_the_facts_with_their_figures():
    assert set(catalog()) == set(FACTS_TABLE) | set(MORE_TABLE)
    for tag, (download, kv_kib) in {**FACTS_TABLE, **MORE_TABLE}.items():
        info = catalog()[tag]
        assert info.tag == tag
        assert info.download_bytes == int(download)
        assert info.kv_bytes_per_token == int(kv_kib * 1024)


def test_kv_cache_per_token_follows_from_the_architecture():
    # f16 KV cache: K and V, for every layer and KV head, head_dim values of 2 bytes each
    assert set(ARCHITECTURE) == set(catalog())
    for tag, (layers, kv_heads, head_dim) in ARCHITECTURE.items():
        assert catalog()[tag].kv_bytes_per_token == 2 * layers * kv_heads * head_dim * 2, tag


def test_catalog_entries_are_complete_and_frozen():
    for info in catalog().values():
        assert re.fullmatch(r"\d+(\.\d+)?[BM]", info.parameters)
        assert info.quantization in ("Q4_K_M", "Q8_0", "F16")
        # chat models have long windows; BERT-style embedding models 512 or 2048 tokens
        assert info.context_length >= (512 if info.embedding else 8192)
        assert Version.release(info.min_ollama) is not None
    assert catalog()["qwen3:8b"].min_ollama == "0.6.6"
    assert catalog()["deepseek-r1:7b"].min_ollama == "0.5.7"
    assert catalog()["qwen2.5:7b"].min_ollama == "0.0.0"
    # qwen3 and qwen3moe arrive together in 0.6.6; Ollama's qwen3 embedding in 0.12.0
    assert {catalog()[tag].min_ollama for tag in ("qwen3:14b", "qwen3:30b", "qwen3:32b")} == {"0.6.6"}
    assert {tag for tag, info in catalog().items() if info.min_ollama == "0.12.0"} == {
        "qwen3-embedding:0.6b", "qwen3-embedding:4b", "qwen3-embedding:8b"}
    assert {tag for tag, info in catalog().items() if info.embedding} == EMBEDDING
    with pytest.raises(dataclasses.FrozenInstanceError):
        catalog()["qwen3:8b"].download_bytes = 1


def test_model_info():
    assert model_info("qwen2.5:1.5b") == catalog()["qwen2.5:1.5b"]
    assert model_info("llama3.2:3b") is None
    assert model_info("someone/model:q4") is None


@pytest.mark.parametrize("tag", ["qwen3", "qwen3:", "Qwen3:8b", ":8b", "qwen3:8b:x", ""])
def test_a_tag_must_be_name_colon_tag(tag):
    # a bare name means :latest, which moves: refused rather than guessed
    with pytest.raises(ValueError, match="name:tag"):
        model_info(tag)


# ---------------------------------------------------------------- the log's observations (docs/facts.md section 6)

def test_qwen3_8b_on_the_orin_nano_8gb_lands_on_the_logs_96_percent():
    # the log: qwen3:8b loaded on the Orin Nano 8GB with GNOME, 4096-token context, one request:
    # 6.5 GB loaded, the system at 96 % with 158 MiB free. Tolerance: within 3 percentage points of 96 %
    # (the constants give 98.4 %; the unverified overhead was fitted, see data/models.yaml `overhead`).
    e = on("qwen3:8b")
    assert abs(e.percent - 96) <= 3
    assert e.tier in ("red", "black")
    assert e.tier == "black"
    # and the model's own share is the log's "6.5 GB loaded", within 0.1 GB
    assert abs((e.weights_bytes + e.kv_bytes + e.overhead_bytes) / 1e9 - 6.5) <= 0.1


def test_qwen2_5_7b_on_the_orin_nano_8gb_is_about_90_percent():
    # the log: "7b about 90%"; "about" read as within 3 percentage points (the estimate gives 87.2 %)
    e = on("qwen2.5:7b")
    assert abs(e.percent - 90) <= 3
    assert e.tier == "red"


def test_models_up_to_4b_are_safe_on_the_orin_nano_8gb():
    # the log: "<= 4b safe" (desktop on); every such model is green or yellow, in fact green
    small = [tag for tag, info in catalog().items() if billions(info.parameters) <= 4.0]
    assert {"qwen3:4b", "qwen2.5:3b", "qwen3:1.7b", "deepseek-r1:1.5b", "smollm2:135m"} <= set(small)
    for tag in small:
        assert on(tag).tier in ("green", "yellow"), tag
        assert on(tag).tier == "green", tag


def test_estimate_parts():
    e = on("qwen3:8b")
    assert e.baseline_bytes == 1331 * MB  # the log's idle 1.3 GiB with GNOME
    assert e.weights_bytes == 5_200_000_000  # the download size
    assert e.kv_bytes == 4096 * 1 * 144 * 1024
    assert e.overhead_bytes == 384 * MB + 260_000_000  # 384 MB + 5 % of the weights (unverified)
    assert e.total_bytes == e.baseline_bytes + e.weights_bytes + e.kv_bytes + e.overhead_bytes
    assert e.ram_bytes == 7620 * MB
    assert e.percent == pytest.approx(e.total_bytes / e.ram_bytes * 100)
    assert (e.context_length, e.num_parallel) == (4096, 1)


def test_headless_saves_about_800_mb():
    # multi-user.target frees about 800 MB with GNOME (docs/facts.md section 3)
    assert on("qwen3:8b").total_bytes - on("qwen3:8b", desktop=False).total_bytes == 800 * MB
    assert on("qwen3:8b", desktop=False).tier == "red"
    assert on("qwen2.5:7b", desktop=False).tier == "yellow"


def test_kv_cache_grows_with_context_and_parallel_requests():
    base = on("qwen3:8b", NX_16GB)
    assert on("qwen3:8b", NX_16GB, context_length=8192).kv_bytes == 2 * base.kv_bytes
    assert on("qwen3:8b", NX_16GB, num_parallel=4).kv_bytes == 4 * base.kv_bytes
    assert on("qwen3:8b", NX_16GB, context_length=40960, num_parallel=4).tier == "black"


@pytest.mark.parametrize("args", [(0, True, 4096, 1), (7620, True, 0, 1), (7620, True, 4096, 0)])
def test_estimate_refuses_nonsense(args):
    with pytest.raises(ValueError):
        estimate(model_info("qwen3:8b"), *args)


@pytest.mark.parametrize("percent, tier", [
    (0, "green"), (69.9, "green"), (70, "yellow"), (84.9, "yellow"), (85, "red"), (95, "red"),
    (95.1, "black"), (150, "black"),
])
def test_tiers(percent, tier):
    assert tier_of(percent) == tier


# ---------------------------------------------------------------- the whole catalog on three boards

@pytest.mark.parametrize("mem_total_mb", [NANO_8GB, NX_16GB, AGX_64GB])
@pytest.mark.parametrize("desktop", [True, False])
def test_tiers_never_fall_as_models_grow(mem_total_mb, desktop):
    estimates = {tag: estimate(info, mem_total_mb, desktop, 4096, 1) for tag, info in catalog().items()}
    by_total = sorted(estimates.values(), key=lambda e: e.total_bytes)
    assert [TIERS.index(e.tier) for e in by_total] == sorted(TIERS.index(e.tier) for e in by_total)
    by_download = sorted(estimates.values(), key=lambda e: e.weights_bytes)
    assert [TIERS.index(e.tier) for e in by_download] == sorted(TIERS.index(e.tier) for e in by_download)


@pytest.mark.parametrize("tag, mem_total_mb, desktop, tier", [
    ("qwen3:14b", NANO_8GB, True, "black"),
    ("qwen3:8b", NANO_8GB, True, "black"),
    ("deepseek-r1:8b", NANO_8GB, True, "red"),
    ("deepseek-r1:7b", NANO_8GB, True, "red"),
    ("qwen3:4b", NANO_8GB, True, "green"),
    ("smollm2:135m", NANO_8GB, True, "green"),
    ("qwen3:14b", NX_16GB, True, "yellow"),
    ("qwen3:14b", NX_16GB, False, "yellow"),
    ("qwen3:8b", NX_16GB, True, "green"),
    ("qwen3:14b", AGX_64GB, True, "green"),
    ("qwen2.5:14b", NX_16GB, True, "yellow"),
    ("qwen2.5:14b", NX_16GB, False, "green"),  # 69.4 %
    ("qwen3:30b", NX_16GB, False, "black"),
    ("qwen3:30b", AGX_32GB, True, "green"),
    ("qwen3:32b", AGX_32GB, True, "yellow"),
    ("qwen2.5:32b", AGX_32GB, False, "yellow"),
    ("qwen3:32b", AGX_64GB, True, "green"),
    ("qwen3-embedding:8b", NANO_8GB, True, "red"),  # an embedding model weighs like any other
    ("nomic-embed-text:v1.5", NANO_8GB, True, "green"),
])
def test_tiers_of_some_models(tag, mem_total_mb, desktop, tier):
    assert on(tag, mem_total_mb, desktop).tier == tier


def test_every_model_is_green_on_the_agx_orin_64gb():
    assert {estimate(info, AGX_64GB, True, 4096, 1).tier for info in catalog().values()} == {"green"}


# ---------------------------------------------------------------- policies and messages

@pytest.mark.parametrize("tag, policy, ok, warns", [
    ("qwen3:4b", "strict", True, False),
    ("qwen3:4b", "warn", True, False),
    ("qwen2.5:7b", "strict", False, True),  # red
    ("qwen3:8b", "strict", False, True),  # black
    ("qwen2.5:7b", "warn", True, True),
    ("qwen3:8b", "warn", True, True),
    ("qwen3:8b", "off", True, False),
    ("qwen3:14b", "off", True, False),
])
def test_fits(tag, policy, ok, warns):
    allowed, warning = fits(on(tag), policy)
    assert allowed is ok
    assert (warning is not None) is warns


def test_fits_warning_and_unknown_policy():
    assert fits(on("qwen3:8b"), "warn") == (
        True, "needs about 7.3 GB of 7.4 GB RAM (98 %, black) with a 4096-token context")
    assert fits(on("qwen3:14b", NX_16GB), "strict") == (True, None)  # yellow passes silently
    with pytest.raises(ValueError, match="strict, warn, off"):
        fits(on("qwen3:8b"), "lenient")


def test_refusal_message():
    assert refusal_message("nano-01", "qwen3:8b", on("qwen3:8b")) == (
        "nano-01: qwen3:8b needs about 7.3 GB of 7.4 GB RAM (98 %, black) with a 4096-token context; "
        "set ollama_memory_policy: warn to allow it")
    assert refusal_message("nano-01", "qwen3:8b", on("qwen3:8b", NX_16GB, context_length=40960, num_parallel=2)) == (
        "nano-01: qwen3:8b needs about 18.0 GB of 15.0 GB RAM (120 %, black) with a 40960-token context "
        "x 2 parallel requests; set ollama_memory_policy: warn to allow it")


# ---------------------------------------------------------------- auto

def test_auto_picks_the_largest_green_model_of_the_list():
    # Orin Nano 8GB with GNOME: qwen3:8b is black (98 %), qwen2.5:7b red (87 %), qwen3:4b green (63 %)
    assert auto_models(AUTO, NANO_8GB, True, 4096, 1) == ["qwen3:4b"]
    # headless: qwen2.5:7b drops to yellow (77 %), still not green
    assert auto_models(AUTO, NANO_8GB, False, 4096, 1) == ["qwen3:4b"]
    # Orin NX 16GB: qwen3:8b is 49 %; AGX Orin 64GB: 12 %
    assert auto_models(AUTO, NX_16GB, True, 4096, 1) == ["qwen3:8b"]
    assert auto_models(AUTO[AUTO.index("qwen3:8b"):], AGX_64GB, True, 4096, 1) == ["qwen3:8b"]


# what the default list gives each board with the default context (4096) and one request, and the
# estimate's percent of RAM: (MemTotal MB, desktop) -> (tag, percent)
AUTO_PICKS = {
    (NANO_8GB, True): ("qwen3:4b", 62.9),  # as before the larger models: qwen2.5:7b is red, qwen3:8b black
    (NANO_8GB, False): ("qwen3:4b", 52.4),
    (NX_16GB, True): ("qwen3:8b", 48.7),  # both 14B are yellow with GNOME (qwen3 75.8 %, qwen2.5 74.6 %)
    (NX_16GB, False): ("qwen2.5:14b", 69.4),  # headless frees 800 MB: just green; qwen3:14b 70.6 %
    (AGX_32GB, True): ("qwen3:30b", 67.7),  # the MoE: the dense 32Bs are yellow (75.2 %, 74.1 %)
    (AGX_32GB, False): ("qwen3:30b", 65.1),
    (AGX_64GB, True): ("qwen3:32b", 36.5),
    (AGX_64GB, False): ("qwen3:32b", 35.3),
}


@pytest.mark.parametrize("board", AUTO_PICKS)
def test_auto_gives_each_board_size_the_largest_green_model(board):
    mem_total_mb, desktop = board
    tag, percent = AUTO_PICKS[board]
    assert auto_models(AUTO, mem_total_mb, desktop, 4096, 1) == [tag]
    assert on(tag, mem_total_mb, desktop).percent == pytest.approx(percent, abs=0.05)
    # every chat model listed before it (a larger one) is not green on this board
    for larger in AUTO[:AUTO.index(tag)]:
        assert on(larger, mem_total_mb, desktop).tier != "green", larger


def test_the_default_list_is_largest_first_and_all_chat_models():
    assert AUTO[0] == "qwen3:32b" and AUTO[-1] == "qwen2.5:0.5b"
    sizes = [billions(catalog()[tag].parameters) for tag in AUTO]
    assert sizes == sorted(sizes, reverse=True)
    assert not any(catalog()[tag].embedding for tag in AUTO)
    # the 32 GB pick does not hang on the unverified 30536 MB: with GNOME qwen3:30b is the pick from
    # 29600 to 32300 MB (qwen2.5:32b turns green at 32320 MB)
    assert {auto_models(AUTO, mb, True, 4096, 1)[0] for mb in range(29600, 32300, 100)} == {"qwen3:30b"}


def test_auto_never_picks_an_embedding_model():
    # an embedding model has no chat: auto passes over it even where it is the first green tag
    assert auto_models(["qwen3-embedding:8b", "qwen2.5:0.5b"], AGX_64GB, True, 4096, 1) == ["qwen2.5:0.5b"]
    assert auto_models(sorted(EMBEDDING), AGX_64GB, True, 4096, 1) == []
    assert on("qwen3-embedding:8b", AGX_64GB).tier == "green"


def test_an_embedding_model_is_estimated_like_any_other():
    # in ollama_models an embedding model's memory counts as a chat model's would: weights + KV + overhead
    e = on("qwen3-embedding:8b", NX_16GB)
    assert e.weights_bytes == 4_676_804_928 and e.kv_bytes == 4096 * 144 * 1024
    assert e.tier == "green"
    assert fits(on("qwen3-embedding:8b"), "strict")[0] is False  # red on the Orin Nano 8GB with GNOME


def test_auto_follows_context_and_the_list_order():
    # a 32k context x 2 on the 16 GB board: qwen3:8b's KV cache alone is 9 GiB (144 KiB per token),
    # qwen2.5:7b's 3.5 GiB (56 KiB): the smaller cache keeps it green (65 %)
    assert auto_models(AUTO, NX_16GB, True, 32768, 2) == ["qwen2.5:7b"]
    assert auto_models(AUTO, NANO_8GB, True, 32768, 1) == ["qwen2.5:3b"]
    assert auto_models(["qwen2.5:0.5b", "qwen3:8b"], AGX_64GB, True, 4096, 1) == ["qwen2.5:0.5b"]
    assert auto_models(AUTO, 2048, True, 4096, 1) == []
    with pytest.raises(ValueError, match="llama3.2:3b"):
        auto_models(["llama3.2:3b"], AGX_64GB, True, 4096, 1)


# ---------------------------------------------------------------- settings (config.py)

def test_model_settings_defaults():
    chosen = settings({})
    assert chosen.ollama_models == []
    assert chosen.ollama_models_auto[0] == "qwen3:32b" and chosen.ollama_models_auto[-1] == "qwen2.5:0.5b"
    assert all(model_info(tag) is not None for tag in chosen.ollama_models_auto)
    assert (chosen.ollama_memory_policy, chosen.ollama_desktop) == ("strict", None)
    assert chosen.ollama_lock_file == "models.lock"
    chosen.ollama_models_auto.append("deepseek-r1:8b")  # a copy: the defaults stay as they are
    assert "deepseek-r1:8b" not in settings({}).ollama_models_auto


@pytest.mark.parametrize("key, value", [
    ("ollama_models", "auto"),
    ("ollama_models", ["qwen2.5:1.5b", "qwen3:8b"]),
    ("ollama_models", ["someone/model:Q4_K_M", "llama3.2:3b"]),
    ("ollama_models_auto", ["qwen2.5:0.5b"]),
    ("ollama_memory_policy", "warn"),
    ("ollama_memory_policy", "off"),
    ("ollama_allow_unknown_models", True),
    ("ollama_prune_models", True),
    ("ollama_registry", "http://10.0.0.1:5000"),
    ("ollama_lock_file", "/srv/fleet/models.lock"),
    ("ollama_update_lock", True),
    ("ollama_desktop", False),
])
def test_good_model_settings(key, value):
    assert getattr(settings({key: value}), key) == value


@pytest.mark.parametrize("key, value, problem", [
    ("ollama_models", "qwen3:8b", 'must be "auto" or a list of name:tag strings'),
    ("ollama_models", ["qwen3"], "must be a list of name:tag strings such as qwen2.5:1.5b"),
    ("ollama_models", ["Qwen3:8b"], "must be a list of name:tag strings such as qwen2.5:1.5b"),
    ("ollama_models", ["qwen3:8b", "qwen3:8b"], "must not repeat a tag"),
    ("ollama_models", ["auto"], "must be a list of name:tag strings such as qwen2.5:1.5b"),
    ("ollama_models_auto", [], "must list at least one tag"),
    ("ollama_models_auto", "auto", "must be a list of name:tag strings such as qwen2.5:1.5b"),
    ("ollama_models_auto", ["qwen3:8b", "llama3.2:3b"],
     "must list catalog tags (data/models.yaml); not there: llama3.2:3b"),
    ("ollama_memory_policy", "lenient", "must be one of strict, warn, off"),
    ("ollama_allow_unknown_models", "yes", "must be True or False"),
    ("ollama_prune_models", 1, "must be True or False"),
    ("ollama_registry", "registry.ollama.ai", "must be an http:// or https:// URL"),
    ("ollama_lock_file", "", "must be a non-empty string"),
    ("ollama_update_lock", "true", "must be True or False"),
    ("ollama_desktop", "auto", "must be True or False"),
])
def test_bad_model_settings(key, value, problem):
    with pytest.raises(ConfigError) as err:
        settings({key: value})
    assert str(err.value) == f"{key}: {problem} (got {value!r})"


def test_an_unknown_model_from_its_manifest_size():
    # ollama_allow_unknown_models: the size comes from the registry manifest, the KV figure from the caller
    info = ModelInfo.unknown("llama3.2:3b", 2_019_393_189, 160 * 1024)
    assert (info.tag, info.download_bytes, info.kv_bytes_per_token) == ("llama3.2:3b", 2_019_393_189, 163840)
    assert (info.parameters, info.quantization, info.context_length, info.min_ollama) == (
        "unknown", "unknown", 0, "0.0.0")
    assert estimate(info, NANO_8GB, True, 4096, 1).tier == "green"
    with pytest.raises(ValueError, match="name:tag"):
        ModelInfo.unknown("llama3.2", 1, 1)
