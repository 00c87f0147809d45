"""Step 1's model questions: the embedding model, its quantization, the model cache (with its
free space), offline mode (only with the model in the cache), and on a GPU the local LLM and
vecpipe's share of GPU memory. One "keep" answers them all when the current ones do."""

from __future__ import annotations

from wizard.config.embedding import (
    CPU_QUANTIZATION,
    DOCUMENTED_MODELS,
    Quantization,
    cache_path,
    model_snapshot,
    parse_cache_dir,
    parse_gpu_share,
    parse_model_id,
    snapshot_hint,
)
from wizard.config.model import Deployment, parse_bool
from wizard.config.settings import MODEL_SETTINGS
from wizard.host.capacity import free_space
from wizard.ui import prompter
from wizard.ui.session import Session

_OTHER = "other"


def ask_models(s: Session) -> None:
    """Keep the model settings shown, or answer each (those given for this run are not asked)."""
    if all(s.fixed(setting.key) for setting in MODEL_SETTINGS):
        return
    gpu = s.value("deployment") == Deployment.GPU.value
    summary = f"{s.value('embedding_model')}, {s.value('quantization')}, cache " + str(
        s.value("model_cache")
    )
    if _on(s.value("offline")):
        summary += ", offline"
    choice = prompter.select(
        "Models",
        [(f"Keep: {summary}", "keep"), ("Change the model settings", "change")],
        default="keep",
    )
    if choice == "change":
        _ask_model(s)
        _ask_quantization(s, gpu)
        _ask_cache(s)
        _ask_offline(s)
        if gpu:
            _ask_gpu_settings(s)


def _on(value: object) -> bool:
    return bool(parse_bool(value, "")[0])


def _ask_model(s: Session) -> None:
    if s.fixed("embedding_model"):
        return
    current = str(s.value("embedding_model"))
    choices = [(f"{model} ({gb:g} GB, {about})", model) for model, gb, about in DOCUMENTED_MODELS]
    known = {model for _, model in choices}
    choices.append(("Another Hugging Face model (owner/name)", _OTHER))
    model = prompter.select(
        "Embedding model", choices, default=current if current in known else _OTHER
    )
    if model == _OTHER:
        model = prompter.text(
            "Hugging Face model id",
            default="" if current in known else current,
            validate=lambda text: parse_model_id(text, "model id")[1],
        ).strip()
    s.answered["embedding_model"] = model


def _ask_quantization(s: Session, gpu: bool) -> None:
    if s.fixed("quantization"):
        return
    if not gpu:
        s.ui.info(f"Quantization: {CPU_QUANTIZATION}.")
    s.answered["quantization"] = prompter.select(
        "Quantization",
        [(q.value, q.value) for q in Quantization],
        default=str(s.value("quantization")),
    )


def _ask_cache(s: Session) -> None:
    if not s.fixed("model_cache"):
        s.answered["model_cache"] = prompter.text(
            "Model cache directory (created if missing)",
            default=str(s.value("model_cache")),
            validate=_cache_problem,
        ).strip()
    cache = cache_path(str(s.value("model_cache")), s.cwd)
    free = free_space(cache)
    if free is not None:
        s.ui.info(f"Model cache {cache}: {free / 1e9:.1f} GB free.")


def _cache_problem(text: str) -> str | None:
    return parse_cache_dir(text, "model cache")[1]


def _ask_offline(s: Session) -> None:
    if s.fixed("offline"):
        return
    offline = prompter.select(
        "Offline mode (no model downloads)",
        [("Off: download models as needed", "false"), ("On: use the cache only", "true")],
        default="true" if _on(s.value("offline")) else "false",
    )
    model = str(s.value("embedding_model"))
    cache = cache_path(str(s.value("model_cache")), s.cwd)
    if offline == "true" and model_snapshot(cache, model) is None:
        s.ui.warn(
            f"Offline mode stays off: {cache} holds no copy of {model} (expected at "
            f"{snapshot_hint(cache, model)}/). Download it first, then turn it on."
        )
        offline = "false"
    s.answered["offline"] = offline


def _ask_gpu_settings(s: Session) -> None:
    if not s.fixed("local_llm"):
        s.answered["local_llm"] = prompter.select(
            "Local LLM in vecpipe",
            [("On: run local LLMs on the GPU", "true"), ("Off", "false")],
            default="true" if _on(s.value("local_llm")) else "false",
        )
    if not s.fixed("gpu_memory_max"):
        s.answered["gpu_memory_max"] = prompter.text(
            "Share of GPU memory vecpipe may use (0.1 to 1.0)",
            default=str(s.value("gpu_memory_max")),
            validate=lambda text: parse_gpu_share(text, "GPU memory share")[1],
        ).strip()
