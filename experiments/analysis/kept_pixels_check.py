"""Where an editor's error to SynthFaces' truth sits: the pixels the truth keeps, or those it changes.

  python experiments/analysis/kept_pixels_check.py --data_dir=D WORKDIR

On the eval's held-out same-identity pairs (``harness.same_identity_pairs``), prints SSIM and PSNR
against the truth of: copy-the-input; the model's edit; the edit with the pixels the truth keeps
(``artefacts.changed_pixels`` false) replaced by the input, i.e. what removing the leak alone
would give; and, for an attention editor (GANimation), the edit recomposed with the official
code's saturated attention (``do_saturate_mask``: ``clip(0.55 tanh(3 (A - 0.5)) + 0.5, 0, 1)``)
applied after training.
"""

import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from absl import app
from absl import flags

sys.path.insert(1, str(Path(__file__).resolve().parents[2]))

import fxs_jax  # pylint: disable=g-import-not-at-top
from fxs_jax.data import pipeline  # pylint: disable=g-import-not-at-top
from fxs_jax.eval import artefacts  # pylint: disable=g-import-not-at-top
from fxs_jax.eval import harness  # pylint: disable=g-import-not-at-top
from fxs_jax.eval import image_metrics  # pylint: disable=g-import-not-at-top
from fxs_jax.nn.blocks import compose  # pylint: disable=g-import-not-at-top

_DATA_DIR = flags.DEFINE_string("data_dir", "", "TFDS data dir (as config.data.data_dir).")


def saturated(attention):
  return jnp.clip(0.55 * jnp.tanh(3.0 * (attention - 0.5)) + 0.5, 0.0, 1.0)


def main(argv):
  if len(argv) != 2:
    raise app.UsageError("Give one WORKDIR.")
  model = fxs_jax.load(argv[1])
  config = model.config
  config.data.data_dir = _DATA_DIR.value or config.data.data_dir
  source = pipeline.load(config.data, [config.data.eval_split])[config.data.eval_split]
  inputs, partners = harness.same_identity_pairs(source)
  prep = pipeline.stills_preprocess(flip=False)
  field = config.evals.pairs.target  # "aus" (GANimation) or "emotion" (LGP-GAN)
  attention_editor = config.model_name == "ganimation"
  scores, changed_fraction = {}, []
  for inp, tgt in zip(harness.batches(source, np.asarray(inputs), 32, prep),
                      harness.batches(source, np.asarray(partners), 32, prep)):
    image, truth = inp["image"], tgt["image"]
    edit = np.asarray(model.edit(image, landmarks=inp["landmarks"], **{field: tgt[field]}))
    changed = artefacts.changed_pixels(image, truth)[..., None]
    changed_fraction.append(changed.reshape(len(changed), -1).mean(-1))
    outputs = {"copy input": image, "edit": edit, "edit, kept pixels = input":
               np.where(changed, edit, image)}
    if attention_editor:
      color, attention = model.generator(jnp.asarray(image), jnp.asarray(tgt["aus"]) / 5.0)
      outputs["edit, saturated attention"] = np.asarray(
          compose(saturated(attention), color, jnp.asarray(image)))
    for name, out in outputs.items():
      scores.setdefault(name, []).append(np.stack(
          [np.asarray(image_metrics.ssim(out, truth)), np.asarray(image_metrics.psnr(out, truth))],
          -1))
  print(f"{len(inputs)} pairs; the truth changes {np.concatenate(changed_fraction).mean():.1%} "
        "of the pixels")
  print("| output | SSIM | PSNR |\n|---|---|---|")
  for name, values in scores.items():
    ssim, psnr = np.concatenate(values).mean(0)
    print(f"| {name} | {ssim:.4f} | {psnr:.2f} |")


if __name__ == "__main__":
  app.run(main)
