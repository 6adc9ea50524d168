"""The papers' networks, composed from ``fxs_jax.nn`` blocks, and the evaluator networks."""

from fxs_jax.models import evaluators
from fxs_jax.models import ganimation
from fxs_jax.models import lgpgan

__all__ = ["evaluators", "ganimation", "lgpgan"]
