"""Times each exact convolution formulation (fxs_jax/nn/fastconv.py) against plain lax.conv.

For every conv layer of GANimation's generator and critic (128 px, batch 8 by default) and every
formulation that applies to it, prints the median time of
* fwd+bwd: gradients of ``sum(y * r)`` w.r.t. the input and the kernel;
* 2nd order: gradient w.r.t. the kernel of a WGAN-GP-like penalty
  ``mean((||d sum(leaky_relu(y) * r) / dx|| - 1)^2)``, which differentiates the backward pass.
The formulations of a layer are timed in the same run, interleaved (the CPU is shared).

  nice -n 15 python experiments/bench/convs.py [--batch 8] [--size 128] [--reps 3]
      [--only gen] [--skip stem,128px]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from fxs_jax.nn import fastconv as fc


@contextlib.contextmanager
def _lax_inner_correlation():
  """Traces the sub-pixel transposed conv with lax.conv instead of im2col for its 2x2 conv."""
  # pylint: disable=protected-access
  saved = fc._correlate_valid_im2col
  fc._correlate_valid_im2col = lambda x, k: jax.lax.conv_general_dilated(
      x, k, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
  try:
    yield
  finally:
    fc._correlate_valid_im2col = saved


def _layers(size: int, c: int = 64, num_aus: int = 17):
  """(name, input (H, W, C), kernel (k, k, C, O), {formulation: fn(x, k)}, trace context)."""
  s, none = size, contextlib.nullcontext
  conv_s1 = lambda p: {"plain": lambda x, k: fc.conv2d_plain(x, k, 1, p),
                       "im2col": lambda x, k: fc.conv2d_im2col(x, k, p)}
  layers = []
  cond = np.linspace(0.0, 1.0, num_aus, dtype=np.float32)
  fold = {"plain": lambda x, k: fc.conv2d_with_constant_channels(
              x, jnp.broadcast_to(cond, (x.shape[0], num_aus)), k, 1, 3, impl="plain"),
          "folded": lambda x, k: fc.conv2d_with_constant_channels(
              x, jnp.broadcast_to(cond, (x.shape[0], num_aus)), k, 1, 3, impl="fast")}
  layers.append(("gen stem 7x7 s1 (AU fold)", (s, s, 3), (7, 7, 3 + num_aus, c), fold))
  for h, ci in ((s, c), (s // 2, 2 * c)):
    layers.append((f"gen down 4x4 s2 {h}px", (h, h, ci), (4, 4, ci, 2 * ci),
                   {"plain": lambda x, k: fc.conv2d_plain(x, k, 2, 1),
                    "space_to_depth": lambda x, k: fc.conv2d_space_to_depth(x, k, 1)}))
  res = dict(conv_s1(1), winograd=lambda x, k: fc.conv2d_winograd(x, k, 1))
  layers.append((f"gen residual 3x3 s1 {s // 4}px", (s // 4, s // 4, 4 * c), (3, 3, 4 * c, 4 * c),
                 res))
  for h, ci in ((s // 4, 4 * c), (s // 2, 2 * c)):
    layers.append((f"gen up T4x4 s2 {h}px", (h, h, ci), (4, 4, ci, ci // 2),
                   {"plain": lambda x, k: fc.conv_transpose2d_plain(x, k, 2, 1),
                    "subpixel_im2col": lambda x, k: fc.conv_transpose2d_subpixel(x, k, 1),
                    "subpixel_lax": (lambda x, k: fc.conv_transpose2d_subpixel(x, k, 1),
                                     _lax_inner_correlation)}))
  layers.append(("gen heads 7x7 s1", (s, s, c), (7, 7, c, 4),
                 {"plain": lambda x, k: fc.conv2d_plain(x, k, 1, 3)}))
  h, ci = s, 3
  while h > 2:
    co = 64 if ci == 3 else 2 * ci
    layers.append((f"critic 4x4 s2 {h}px", (h, h, ci), (4, 4, ci, co),
                   {"plain": lambda x, k: fc.conv2d_plain(x, k, 2, 1),
                    "space_to_depth": lambda x, k: fc.conv2d_space_to_depth(x, k, 1)}))
    h, ci = h // 2, co
  layers.append((f"critic map 3x3 p1 {h}px", (h, h, ci), (3, 3, ci, 1), res))
  layers.append((f"critic AU head {h}x{h} valid", (h, h, ci), (h, h, ci, num_aus), conv_s1(0)))
  return layers


def _steps(fn):
  def fwd_bwd(x, k, r):
    return jax.grad(lambda x, k: jnp.sum(fn(x, k) * r), argnums=(0, 1))(x, k)

  def penalty(k, x, r):
    grad_x = jax.grad(lambda x: jnp.sum(jax.nn.leaky_relu(fn(x, k), 0.01) * r))(x)
    norms = jnp.sqrt(jnp.sum(jnp.square(grad_x), axis=(1, 2, 3)) + 1e-12)
    return jnp.mean(jnp.square(norms - 1.0))

  return jax.jit(fwd_bwd), jax.jit(jax.grad(penalty))


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--size", type=int, default=128)
  parser.add_argument("--reps", type=int, default=3)
  parser.add_argument("--only", default="", help="substring of the layer names to run")
  parser.add_argument("--skip", default="", help="comma-separated substrings of layers to skip")
  args = parser.parse_args()
  rng = np.random.default_rng(0)
  print(f"jax {jax.__version__} on {jax.default_backend()}, batch {args.batch}, "
        f"{args.size} px; median of {args.reps} (seconds)")
  print(f"{'layer':34s} {'formulation':16s} {'fwd+bwd':>8s} {'2nd ord':>8s} {'max rel err':>11s}")
  for name, in_shape, k_shape, forms in _layers(args.size):
    if args.only not in name or any(s and s in name for s in args.skip.split(",")):
      continue
    x = jnp.asarray(rng.standard_normal((args.batch, *in_shape), np.float32))
    k = jnp.asarray(rng.standard_normal(k_shape, np.float32) * 0.05)
    compiled, reference = {}, None
    for form, fn in forms.items():
      fn, ctx = fn if isinstance(fn, tuple) else (fn, contextlib.nullcontext)
      with ctx():
        y = jax.jit(fn)(x, k)
        r = jnp.asarray(rng.standard_normal(y.shape, np.float32)) if reference is None else r
        fwd_bwd, second = _steps(fn)
        jax.block_until_ready((fwd_bwd(x, k, r), second(k, x, r)))  # compile under ctx
      err = 0.0 if reference is None else float(jnp.max(jnp.abs(y - reference)) /
                                                 jnp.max(jnp.abs(reference)))
      reference = y if reference is None else reference
      compiled[form] = (fwd_bwd, second, err)
    times = {form: ([], []) for form in compiled}
    for _ in range(args.reps):
      for form, (fwd_bwd, second, _) in compiled.items():
        t0 = time.perf_counter()
        jax.block_until_ready(fwd_bwd(x, k, r))
        t1 = time.perf_counter()
        jax.block_until_ready(second(k, x, r))
        times[form][0].append(t1 - t0)
        times[form][1].append(time.perf_counter() - t1)
    for form, (first, second_order) in times.items():
      print(f"{name:34s} {form:16s} {statistics.median(first):8.3f} "
            f"{statistics.median(second_order):8.3f} {compiled[form][2]:11.1e}", flush=True)


if __name__ == "__main__":
  main()
