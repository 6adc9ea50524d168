"""fxs_jax: facial expression synthesis in JAX/Flax.

``fxs_jax.load(path)`` gives a trained model (``fxs_jax.inference.TrainedModel``) from a training
workdir or an exported directory; ``fxs_jax.export(workdir, out_dir)`` writes that portable
directory. Both import JAX only when called.
"""


def load(path, step=None):
  """The trained model in ``path`` (a training workdir, checkpoint ``step`` or the newest; an
  exported directory; or a bundled model's name, ``"synthfaces/ganimation"``):
  ``fxs_jax.inference.load``."""
  from fxs_jax import inference  # pylint: disable=g-import-not-at-top
  return inference.load(path, step)


def export(workdir, out_dir, step=None, dtype="float32"):
  """Writes the generator of ``workdir`` to the portable directory ``out_dir`` (``dtype``
  ``"float16"``: half the size): ``fxs_jax.inference.export``."""
  from fxs_jax import inference  # pylint: disable=g-import-not-at-top
  return inference.export(workdir, out_dir, step, dtype)
