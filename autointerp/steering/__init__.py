"""Steering: add a unit's decoder direction to the subject model's activations and watch
what changes.

Steering unit ``u`` with strength ``alpha`` adds ``alpha * d_u`` at every position (or from
``start`` on) where the SAE writes: its own hook point (``info.hook_name``), or for a
transcoder the hook point it predicts (``info.hook_name_out``). ``d_u`` is the decoder row
``W_dec[u]`` **normalised to unit length**, so ``alpha`` is the L2 norm of what is added
(compare it with the activations' norm, :func:`activation_scale`); for the negative unit
``d_sae + i`` of a signed SAE it is ``-W_dec[i]`` normalised. A zero decoder row gives a
zero direction (steering it changes nothing).

The vector is added by a forward hook (a forward-pre hook where the hook point is a module's
input) that :func:`add_vectors` always removes, also on errors. ``resid_mid``/``mlp_in``
are read at the input of the MLP's norm, but adding there would not reach the residual
stream, so they are steered at the attention's output instead (``resid_mid = resid_pre +
attn_out``).

Strength is set by :func:`calibrate_strength`: the ``alpha`` at which the mean KL(clean ||
steered) of the next-token distribution at the prompts' last positions reaches a target (a
safeguarded secant search on log KL against log alpha; KL grows like alpha² for small
alpha). :func:`calibrate_many` calibrates several units in one batch per iteration.

Modules: ``vectors`` (directions and hooks), ``distributions`` (next-token distributions,
KL, promoted tokens), ``calibrate`` (strength), ``generation`` (continuations, logit lens).
"""

from autointerp.steering.calibrate import Calibration, calibrate_many, calibrate_strength
from autointerp.steering.distributions import (
    activation_scale,
    encode_prompts,
    neutral_prompts,
    next_token_kl,
    next_token_logprobs,
    prob_changes,
)
from autointerp.steering.generation import generate, generate_pair, logit_lens
from autointerp.steering.vectors import add_vectors, steer, steering_hook, steering_vector

__all__ = [
    "Calibration",
    "activation_scale",
    "add_vectors",
    "calibrate_many",
    "calibrate_strength",
    "encode_prompts",
    "generate",
    "generate_pair",
    "logit_lens",
    "neutral_prompts",
    "next_token_kl",
    "next_token_logprobs",
    "prob_changes",
    "steer",
    "steering_hook",
    "steering_vector",
]
