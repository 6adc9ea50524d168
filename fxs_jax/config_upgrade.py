"""Configs from outside the package: the one upgrade of the layouts of configs saved by earlier
code, the paper defaults shipped inside the package, and where a config file's ``configs/`` sits.

A config saved beside a checkpoint or in an export is read by today's code. :func:`upgrade` fills
every key added since with the value that reproduces what the code did without it, so that the
rest of the package reads each key directly. It is called where a config comes in: ``run.run``
and the loading of saved configs (``fxs_jax.inference``).

:func:`shipped_config` reads ``fxs_jax/pretrained/configs/<name>.json``: ``configs/<name>.py``'s
default written by ``python experiments/export_configs.py`` (``tests/test_config_upgrade.py``
checks they are equal), for what a plain install needs without the repository's ``configs/``. :func:`config_roots` is the
folder a ``--config`` file's ``from configs import common`` reads, which the command lines
(``fxs_jax.main``, ``fxs_jax.convert_torch``) put on ``sys.path``: configs are loaded by path, and
the package imports none.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import ml_collections

SHIPPED_DIR = Path(__file__).resolve().parent / "pretrained" / "configs"
# configs/<name>.py defaults shipped as JSON: the PyTorch converter's GANimation. (The judges'
# configs ship with the judges themselves: fxs_jax.judges.shipped.)
SHIPPED = ("ganimation",)

# The recipes built on fxs_jax.recipes.editing.EditingRecipe (all read model.upsample), and those of
# them whose configs predate their colour head and truth terms (EditingRecipe.colour_head,
# truth_terms; the baselines had them from the start).
EDITING_MODELS = ("ganimation", "lgpgan", "cgan_transfer", "texturegan", "stargan",
                  "attgan", "cyclegan", "c2gan")
TRUTH_TERM_MODELS = ("ganimation", "lgpgan")


def _training_seed(config: Mapping) -> Any:
  return config.get("seed", 0)


# (section, key, default (or a function of the whole config), the models it applies to; None =
# every model). A section a model needs and the config lacks is created.
DEFAULTS: tuple[tuple[str, str, Any, tuple[str, ...] | None], ...] = (
    ("data", "manual_dir", "", None),  # "": $FXS_JAX_MANUAL_DIR or the last build's folder
    ("data", "framing", "", None),  # "": the dataset's own framing
    ("optim", "ema_decay", 0.0, None),  # no moving average
    ("compute", "conv_impl", "auto", None),
    ("compute", "dtype", "float32", None),
    ("compute", "malloc", "auto", None),
    ("eval", "judges", "shipped", None),
    ("eval", "evaluator_dataset", "", None),  # "": the run's own data
    # The held-out pairs were drawn with the training seed before they had a seed of their own.
    ("eval", "pairs_seed", _training_seed, None),
    ("model", "upsample", "transpose", EDITING_MODELS),  # the papers' transposed convs
    ("model", "colour", "absolute", TRUTH_TERM_MODELS),
    ("model", "lambda_truth", 0.0, TRUTH_TERM_MODELS),  # no truth term
    ("model", "changed_truth_weight", 0.0, TRUTH_TERM_MODELS),
    ("model", "colour_truth_weight", 0.0, ("ganimation",)),
    ("model", "colour_truth_region", "changed", ("ganimation",)),
    ("model", "paste_feather", 0, ("lgpgan",)),  # hard-edged crops
    ("model", "local_truth_weight", 0.0, ("lgpgan",)),
    ("video", "motion", "", ("texturegan",)),  # no MotionGAN run named
    ("video", "fps", 15.0, ("texturegan",)),
)


def upgrade(config: Mapping | ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """An unlocked copy of ``config`` (a ConfigDict or a plain dict, e.g. a saved
  ``config.json``) with every key of :data:`DEFAULTS` its model reads and it lacks filled with
  its default. A value present is never changed; upgrading twice gives the same config."""
  plain = config.to_dict() if isinstance(config, ml_collections.ConfigDict) else config
  plain = copy.deepcopy(dict(plain))
  model = plain.get("model_name")
  for section, key, default, models in DEFAULTS:
    if models is not None and model not in models:
      continue
    holder = plain.setdefault(section, {})
    if not isinstance(holder, dict) or key in holder:
      continue  # a section of another type is left for the schema checks to report
    holder[key] = default(plain) if isinstance(default, Callable) else default
  return ml_collections.ConfigDict(plain)


def shipped_config(name: str) -> ml_collections.ConfigDict:
  """``configs/<name>.py``'s default (``get_config()``), as shipped in the package (unlocked)."""
  if name not in SHIPPED:
    raise ValueError(f"No shipped config {name!r}; shipped: {', '.join(SHIPPED)}.")
  return ml_collections.ConfigDict(json.loads((SHIPPED_DIR / f"{name}.json").read_text()))


def config_roots(argv: list[str]) -> list[Path]:
  """The folder two levels above each ``--config`` file in ``argv`` (``--config=PATH[:variants]``
  or ``--config PATH``): the one holding its ``configs/`` folder."""
  paths = [arg.partition("=")[2] for arg in argv if arg.startswith("--config=")]
  paths += [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "--config"]
  return [Path(p.split(":", 1)[0]).expanduser().resolve().parent.parent for p in paths if p]
