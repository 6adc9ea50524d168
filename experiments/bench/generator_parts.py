"""Where a GANimation generator update spends its time (128 px, batch 8, paper networks).

  PYTHONPATH=. python experiments/bench/generator_parts.py [fast|plain] [WINOGRAD_TILE: 2|4]
  NRES=0 ... (environment): the generator without residual blocks

Prints the median of 3 jitted runs of: one generator forward; its forward + backward; the
generator applied twice (edit, then cycle) forward + backward; generator + critic forward +
backward; the critic's input gradient alone.
"""
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
from flax import nnx
from configs import ganimation as cfg
from fxs_jax.recipes.ganimation import GANimation
from fxs_jax.nn import fastconv
impl = sys.argv[1] if len(sys.argv) > 1 else "fast"
if len(sys.argv) > 2: fastconv.WINOGRAD_TILE = int(sys.argv[2])
config = cfg.get_config()
import os
if os.environ.get("NRES"): config.model.gen_num_res_blocks = int(os.environ["NRES"])
recipe = GANimation(config)
gen, critic = recipe.build(nnx.Rngs(0))
gdef, gp = nnx.split(gen); cdef, cp = nnx.split(critic)
B = 8
x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (B, 128, 128, 3)), jnp.float32)
a = jnp.asarray(np.random.default_rng(1).uniform(0, 1, (B, 17)), jnp.float32)

def t(name, f, *args, n=3):
  f = jax.jit(f)
  with fastconv.conv_impl(impl):  # the first call traces
    r = f(*args)
  jax.block_until_ready(r)
  ts = []
  for _ in range(n):
    t0 = time.perf_counter(); jax.block_until_ready(f(*args)); ts.append(time.perf_counter() - t0)
  print(f"{name}: {np.median(ts):.3f} s", flush=True)

def g_once(p):
  out, att, _ = recipe.edit(nnx.merge(gdef, p), x, a); return jnp.mean(out) + jnp.mean(att)
t("G fwd", lambda p: g_once(p), gp)
t("G fwd+bwd", jax.grad(g_once), gp)
def g_twice(p):
  g = nnx.merge(gdef, p); f, at, _ = recipe.edit(g, x, a); r, _, _ = recipe.edit(g, f, a)
  return jnp.mean(jnp.abs(r - x)) + jnp.mean(at)
t("G twice fwd+bwd", jax.grad(g_twice), gp)
def g_critic(p):
  g = nnx.merge(gdef, p); f, at, _ = recipe.edit(g, x, a); m, au = nnx.merge(cdef, cp)(f)
  return jnp.mean(m) + jnp.mean(au)
t("G + critic fwd+bwd", jax.grad(g_critic), gp)
def c_in(f):
  m, au = nnx.merge(cdef, cp)(f); return jnp.mean(m) + jnp.mean(au)
t("critic fwd+bwd(input)", jax.grad(c_in), x)
