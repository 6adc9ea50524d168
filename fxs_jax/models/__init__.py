"""The papers' networks, composed from ``fxs_jax.nn`` blocks (the judges' are in ``fxs_jax.judges``)."""

from fxs_jax.models import ganimation
from fxs_jax.models import lgpgan

__all__ = ["ganimation", "lgpgan"]
