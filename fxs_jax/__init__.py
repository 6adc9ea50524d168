"""fxs_jax: facial expression synthesis in JAX/Flax.

``fxs_jax.load(path)`` gives a trained model (``fxs_jax.face_model.FaceModel``: its predictions
and its uses on photos and videos) from a training workdir, an exported directory or a bundled
model's name; ``fxs_jax.export(workdir, out_dir)`` writes that portable directory. Both import
JAX only when called, so that ``import fxs_jax`` stays instant.
"""


def load(path, step=None):
  """The trained model in ``path`` (a training workdir, checkpoint ``step`` or the newest; an
  exported directory; or a bundled model's name, ``"synthfaces/ganimation"``):
  ``fxs_jax.face_model.load``."""
  from fxs_jax import face_model  # lazy: JAX, so that `import fxs_jax` stays instant
  return face_model.load(path, step)


def export(workdir, out_dir, step=None, dtype="float32"):
  """Writes the generator of ``workdir`` to the portable directory ``out_dir`` (``dtype``
  ``"float16"``: half the size): ``fxs_jax.inference.export``."""
  from fxs_jax import inference  # lazy: JAX, so that `import fxs_jax` stays instant
  return inference.export(workdir, out_dir, step, dtype)
