"""The independent judges of ``--mode=eval``: an AU regressor and an expression classifier.

One package from network to number: ``nets`` (the small CNNs), ``training`` (their supervised
loop, ``python -m fxs_jax.main --config=configs/au_regressor.py``), ``metrics`` (accuracy, AU
errors), ``shipped`` (the fixed, versioned SynthFaces judges inside the package) and ``select``
(which judge an evaluation uses: shipped, or trained on first use into a cache and versioned).
"""

from fxs_jax.judges.nets import KINDS
from fxs_jax.judges.select import JUDGE_SOURCES
from fxs_jax.judges.select import default_cache_dir
from fxs_jax.judges.select import default_config
from fxs_jax.judges.select import ensure_trained
from fxs_jax.judges.select import judge
from fxs_jax.judges.select import judge_source
from fxs_jax.judges.select import judged_data
from fxs_jax.judges.select import same_training
from fxs_jax.judges.select import trained_judge
from fxs_jax.judges.select import trained_version
from fxs_jax.judges.shipped import Judge

__all__ = ["JUDGE_SOURCES", "KINDS", "Judge", "default_cache_dir", "default_config",
           "ensure_trained", "judge", "judge_source", "judged_data", "same_training",
           "trained_judge", "trained_version"]
