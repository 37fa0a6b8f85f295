"""Choose the windows shown to the explainer and the scorers, per unit.

* ``activating``: the explanation and scoring sets (disjoint), by strategy: quantile, top,
  importance or random;
* ``negatives``: non-activating examples: random, hard ``neighbours`` (where units with a
  similar decoder direction fire) and hard ``similar`` (close in sentence-embedding space);
* ``context``: the slice of each window that is shown (``example_len``, ``peak_position``);
* ``embed``: the optional sentence-embedding model behind ``similar``;
* ``build``: replay the chosen windows and assemble ``LatentRecord``s.

All choices are deterministic given the run seed and the unit index.
"""

from autointerp.sampling.activating import STRATEGIES, sample_latent
from autointerp.sampling.build import NEGATIVE_ROLES, make_records
from autointerp.sampling.context import crop_slice
from autointerp.sampling.negatives import (
    choose_nonactivating,
    choose_similar,
    negative_pool,
    neighbour_candidates,
    neighbour_units,
)

__all__ = [
    "NEGATIVE_ROLES",
    "STRATEGIES",
    "choose_nonactivating",
    "choose_similar",
    "crop_slice",
    "make_records",
    "negative_pool",
    "neighbour_candidates",
    "neighbour_units",
    "sample_latent",
]
