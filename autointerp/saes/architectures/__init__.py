"""One small module per SAE architecture; importing this package registers them all in
:data:`autointerp.saes.base.ARCHITECTURES`. A new variant is one more file here."""

from autointerp.saes.architectures.abstopk import AbsTopKSAE
from autointerp.saes.architectures.gated import GatedSAE
from autointerp.saes.architectures.groupmax import GroupMaxSAE
from autointerp.saes.architectures.itda import ITDASAE
from autointerp.saes.architectures.jumprelu import JumpReLUSAE
from autointerp.saes.architectures.matching_pursuit import MatchingPursuitSAE
from autointerp.saes.architectures.neurons import NeuronBasis
from autointerp.saes.architectures.standard import StandardSAE
from autointerp.saes.architectures.topk import TopKSAE

__all__ = [
    "ITDASAE",
    "AbsTopKSAE",
    "GatedSAE",
    "GroupMaxSAE",
    "JumpReLUSAE",
    "MatchingPursuitSAE",
    "NeuronBasis",
    "StandardSAE",
    "TopKSAE",
]
