"""The papers' networks, composed from ``fxs_jax.nn`` blocks."""

from fxs_jax.models import ganimation

__all__ = ["ganimation"]
