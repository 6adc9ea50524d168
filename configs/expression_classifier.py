"""Expression classifier: an independent judge of GAN outputs (8 emotions, SynthFaces / RaFD).

Same network and schedule as configs/au_regressor.py (a softmax cross-entropy head instead of
5 * sigmoid); trained on SynthFaces' exact emotion labels, validated on held-out identities.
Shipped and trained on first use as configs/au_regressor.py says.
"""

import ml_collections

from configs import au_regressor
from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = common.base_config(model="expression_classifier", dataset="synth_faces/stills_64")
  au_regressor.evaluator_sections(config)
  return common.finalize(config, arg, VARIANTS, "configs/expression_classifier.py")


VARIANTS = au_regressor.VARIANTS
