"""SAE checkpoints: formats and architectures behind registries."""

from autointerp.saes import architectures as _architectures  # noqa: F401  (registers)
from autointerp.saes import saelens as _saelens  # noqa: F401  (registers)
from autointerp.saes.base import ARCHITECTURES, SaeInfo, SparseCoder
from autointerp.saes.formats import FORMATS, load_sae, resolve_checkpoint

__all__ = ["ARCHITECTURES", "FORMATS", "SaeInfo", "SparseCoder", "load_sae", "resolve_checkpoint"]
