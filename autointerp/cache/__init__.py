"""Activation caching: per-latent streaming statistics over a corpus."""

from autointerp.cache.runner import bind, cache_activations, cache_many, replay
from autointerp.cache.stats import LatentStats

__all__ = ["LatentStats", "bind", "cache_activations", "cache_many", "replay"]
