"""SAE checkpoints: formats and architectures behind registries."""

from autointerp.saes import architectures as _architectures  # noqa: F401  (registers)
from autointerp.saes import dictionary_learning as _dictionary_learning  # noqa: F401
from autointerp.saes import gemmascope as _gemmascope  # noqa: F401
from autointerp.saes import itda as _itda  # noqa: F401
from autointerp.saes import openai_topk as _openai_topk  # noqa: F401
from autointerp.saes import saelens as _saelens  # noqa: F401
from autointerp.saes import sparsify as _sparsify  # noqa: F401
from autointerp.saes.base import ARCHITECTURES, SaeInfo, SparseCoder
from autointerp.saes.formats import FORMATS, load_sae, load_saes, resolve_checkpoint

__all__ = [
    "ARCHITECTURES",
    "FORMATS",
    "SaeInfo",
    "SparseCoder",
    "load_sae",
    "load_saes",
    "resolve_checkpoint",
]
