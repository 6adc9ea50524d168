"""experiments/bench/profile_step.py: its grouping of compiled ops on programs whose parts are
known by construction (a penalised critic, a crop and paste-back, a plain matrix product), the
trace's op times matched to the compiled instructions, and one ``:smoke`` model end to end."""

import json
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from fxs_jax.losses import adversarial
from fxs_jax.nn import crops

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments" / "bench"))
try:
  import profile_step  # pylint: disable=g-import-not-at-top
finally:
  sys.path.remove(str(ROOT / "experiments" / "bench"))


def _groups(fn, *args) -> set[str]:
  found = profile_step.instructions(jax.jit(fn).lower(*args).compile().as_text())
  return {profile_step.group(info) for info in found.values()}


def test_penalty_ops_are_told_apart_from_the_critic_loss():
  x = jnp.ones((2, 6))

  def critic_loss(w):
    critic = lambda images: jnp.tanh(images @ w).sum(axis=1)
    gp = adversarial.gradient_penalty(critic, x, 0.5 * x, jax.random.key(0))
    return critic(x).mean() + 10.0 * gp

  groups = _groups(jax.grad(critic_loss), jnp.ones((6, 3)))
  assert {profile_step.GROUPS[0], profile_step.GROUPS[1]} <= groups, groups
  # Without the penalty nothing lands in its groups.
  plain = _groups(jax.grad(lambda w: jnp.tanh(x @ w).sum()), jnp.ones((6, 3)))
  assert not {profile_step.GROUPS[0], profile_step.GROUPS[1]} & plain, plain


def test_crops_and_paste_back_have_their_group():
  image = jnp.arange(2 * 8 * 8 * 3, dtype=jnp.float32).reshape(2, 8, 8, 3)
  offsets = jnp.array([[1, 2], [3, 0]], jnp.int32)

  def edit(scale, image, offsets):  # arguments, not constants XLA could fold away
    patch = crops.crop(image, offsets, (4, 4)) * scale
    return crops.paste(image, patch, offsets, feather=1).sum()

  assert profile_step.GROUPS[2] in _groups(jax.grad(edit), jnp.float32(2.0), image, offsets)
  assert profile_step.GROUPS[2] not in _groups(lambda s, i: (i * s).sum(), jnp.float32(2.0), image)


def test_trace_times_are_those_of_the_compiled_instructions(tmp_path):
  fn = jax.jit(lambda a, b: jnp.tanh(a @ b).sum())
  a = jnp.asarray(np.random.default_rng(0).normal(size=(256, 256)), jnp.float32)
  compiled = fn.lower(a, a).compile()
  found = profile_step.instructions(compiled.as_text())
  assert any(info["opcode"] == "dot" or "dot" in info["inner"] for info in found.values())
  compiled(a, a).block_until_ready()
  jax.profiler.start_trace(str(tmp_path))
  for _ in range(3):
    compiled(a, a).block_until_ready()
  jax.profiler.stop_trace()
  seconds = profile_step.trace_op_seconds(str(tmp_path))
  module = compiled.as_text().split()[1].rstrip(",")
  ops = {op: s for (mod, op), s in seconds.items() if mod == module}
  assert ops and set(ops) <= set(found), (module, set(seconds))
  assert all(s > 0 for s in ops.values())
  # The product's group holds the dot: a matrix product counts with the convolutions.
  assert any(profile_step.group(found[op]) == profile_step.GROUPS[3] for op in ops)


def test_smoke_model_end_to_end(tfds_dir, tmp_path):
  out = tmp_path / "profile.json"
  proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "bench" / "profile_step.py"),
                         "--models=ganimation", "--shape=smoke", "--iterations=1",
                         f"--data_dir={tfds_dir}", f"--json={out}"],
                        capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-3000:]
  (result,) = json.loads(out.read_text())["results"]
  critic = result["op_seconds"]["critic"]
  assert critic[profile_step.GROUPS[0]] > 0 and critic[profile_step.GROUPS[1]] > 0  # WGAN-GP
  assert profile_step.GROUPS[0] not in result["op_seconds"]["generator"]
  assert result["step_s"]["critic"] > 0 and result["host_batch_s"] > 0
  assert "| ganimation | smoke | critic |" in proc.stdout
