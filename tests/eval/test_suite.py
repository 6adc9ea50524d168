"""The eval suite's judges: one that cannot be trained on the run's data is skipped with why."""

from configs import ganimation as ganimation_config
from fxs_jax.errors import DatasetError
from fxs_jax.eval import suite
from fxs_jax.judges import select as judge_select


def test_a_judge_the_data_cannot_train_is_skipped_with_the_reason(monkeypatch):
  config = ganimation_config.get_config("smoke")
  config.data.name = "au_faces/smoke"
  config.eval.evaluators = True
  config.eval.identity = False

  def too_small(kind, *args, **kwargs):
    raise DatasetError("Only 5 examples for a global batch of 32: lower the batch size.")

  monkeypatch.setattr(judge_select, "ensure_trained", too_small)
  ev = suite.build_evaluators(config, 32, {"image", "aus", "emotion", "identity"})
  assert ev.au_regressor is None and ev.expression_classifier is None
  assert ev.skipped["au_mae"] == (
      "the au_regressor could not be trained on au_faces/smoke (Only 5 examples for a global "
      "batch of 32); point config.eval.evaluator_dataset at a larger set")
  assert "expression_accuracy" in ev.skipped and ev.skipped["acd_i"] == "config.eval.identity=False"
