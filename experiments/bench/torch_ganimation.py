"""A PyTorch reference of GANimation's training iteration, timed in the same run as fxs_jax's.

  nice -n 15 python experiments/bench/torch_ganimation.py [--rounds=5] [--warmup=1] \
      [--malloc=reuse,default] [--conv_impl=auto] [--batch=8] [--image_size=128]

Needs the ``bench`` extra (``pip install -e .[bench]``: torch, CPU). The networks follow the
official GANimation code's topology (the same as ``fxs_jax.models.ganimation``, parameter counts
checked against ours): generator conv7x7 -> 2 x (conv4x4 s2) -> 6 residual blocks (conv3x3,
affine InstanceNorm) -> 2 x (transposed conv4x4 s2) -> colour (conv7x7, tanh) and attention
(conv7x7, sigmoid) heads, no biases; critic 6 x (conv4x4 s2 + bias, LeakyReLU 0.01), a conv3x3
real/fake map head and a kxk AU head. One iteration, as fxs_jax's trainer runs it: a critic
update (WGAN + AU regression on real images), the gradient-penalty update (a second optimiser
step, as the official code, when ``model.gp_separate_step``), a generator update (WGAN + AU +
cycle L1 + attention mean and total-variation penalties), Adam(1e-4, 0.5, 0.999). Written as an
efficient PyTorch user would: the critic's fakes under ``no_grad`` and the critic frozen during
the generator's backward (the official code builds both graphs and discards them).

fxs_jax's iteration is ``models.TrainerIteration`` (the trainer's own jitted steps). Rounds
alternate which framework goes first; the ratio printed is fxs_jax / PyTorch (below 1: faster).
Each malloc setting runs in a fresh process (glibc reads it at start); both frameworks share it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # pylint: disable=g-import-not-at-top,wrong-import-position

EXPECTED_PARAMS_128 = {"generator": 8_471_296, "critic": 44_860_352}  # 17 AUs, 128 px


def torch_modules():
  """The PyTorch networks (imported lazily: torch is an optional extra)."""
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top

  def conv_in_relu(cin, cout, k, s, p, transpose=False, relu=True):
    conv = (nn.ConvTranspose2d if transpose else nn.Conv2d)(cin, cout, k, s, p, bias=False)
    layers = [conv, nn.InstanceNorm2d(cout, affine=True)]
    return layers + [nn.ReLU(inplace=True)] if relu else layers

  class Residual(nn.Module):

    def __init__(self, channels):
      super().__init__()
      self.body = nn.Sequential(*conv_in_relu(channels, channels, 3, 1, 1),
                                *conv_in_relu(channels, channels, 3, 1, 1, relu=False))

    def forward(self, x):
      return x + self.body(x)

  class Generator(nn.Module):

    def __init__(self, num_aus=17, base=64, num_res=6):
      super().__init__()
      layers = conv_in_relu(3 + num_aus, base, 7, 1, 3)
      c = base
      for _ in range(2):
        layers += conv_in_relu(c, 2 * c, 4, 2, 1)
        c *= 2
      layers += [Residual(c) for _ in range(num_res)]
      for _ in range(2):
        layers += conv_in_relu(c, c // 2, 4, 2, 1, transpose=True)
        c //= 2
      self.trunk = nn.Sequential(*layers)
      self.color = nn.Sequential(nn.Conv2d(c, 3, 7, 1, 3, bias=False), nn.Tanh())
      self.attention = nn.Sequential(nn.Conv2d(c, 1, 7, 1, 3, bias=False), nn.Sigmoid())

    def forward(self, image, aus):
      tiled = aus[:, :, None, None].expand(-1, -1, image.shape[2], image.shape[3])
      h = self.trunk(torch.cat([image, tiled], dim=1))
      return self.color(h), self.attention(h)

  class Critic(nn.Module):

    def __init__(self, image_size=128, num_aus=17, base=64, num_layers=6):
      super().__init__()
      layers, cin, c = [], 3, base
      for _ in range(num_layers):
        layers += [nn.Conv2d(cin, c, 4, 2, 1), nn.LeakyReLU(0.01, inplace=True)]
        cin, c = c, 2 * c
      self.trunk = nn.Sequential(*layers)
      final = image_size // 2 ** num_layers
      self.map_head = nn.Conv2d(cin, 1, 3, 1, 1, bias=False)
      self.aus_head = nn.Conv2d(cin, num_aus, final, bias=False)

    def forward(self, image):
      h = self.trunk(image)
      return self.map_head(h), self.aus_head(h).flatten(1)

  def init(module):  # N(0, 0.02) conv weights, zero biases (as fxs_jax and the official code)
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
      nn.init.normal_(module.weight, 0.0, 0.02)
      if module.bias is not None:
        nn.init.zeros_(module.bias)

  return Generator, Critic, init


class TorchGANimation:
  """The reference iteration on one fixed batch (NCHW copies of fxs_jax's NHWC arrays)."""

  def __init__(self, config, host_batch, threads: int):
    import torch  # pylint: disable=g-import-not-at-top
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    self.torch, m = torch, config.model
    generator_cls, critic_cls, init = torch_modules()
    self.gen = generator_cls(m.num_aus, m.gen_base_channels, m.gen_num_res_blocks)
    self.critic = critic_cls(m.image_size, m.num_aus, m.critic_base_channels, m.critic_num_layers)
    self.gen.apply(init)
    self.critic.apply(init)
    betas = (config.optim.b1, config.optim.b2)
    self.gen_opt = torch.optim.Adam(self.gen.parameters(), config.optim.lr, betas=betas)
    self.critic_opt = torch.optim.Adam(self.critic.parameters(), config.optim.lr, betas=betas)
    self.m, self.batch_size = m, config.data.batch_size
    self.real = torch.from_numpy(host_batch["image"]).permute(0, 3, 1, 2).contiguous()
    self.aus = torch.from_numpy(host_batch["aus"])
    self.target = torch.from_numpy(host_batch["target_aus"])

  def param_counts(self) -> dict[str, int]:
    return {"generator": sum(p.numel() for p in self.gen.parameters()),
            "critic": sum(p.numel() for p in self.critic.parameters())}

  def _compose(self, attention, color, image):
    return attention * image + (1 - attention) * color

  def _au_loss(self, predicted, target):
    return self.m.lambda_au * self.torch.mean((predicted - target) ** 2) / self.batch_size

  def _tv(self, a):  # the official form: a sum over the batch of absolute neighbour differences
    return (a[:, :, 1:] - a[:, :, :-1]).abs().sum() + (a[:, :, :, 1:] - a[:, :, :, :-1]).abs().sum()

  def _penalty(self, fake):
    torch = self.torch
    eps = torch.rand(self.batch_size, 1, 1, 1)
    mixed = (eps * self.real + (1 - eps) * fake).requires_grad_(True)
    score, _ = self.critic(mixed)
    (grad,) = torch.autograd.grad(score, mixed, torch.ones_like(score), create_graph=True)
    norm = grad.flatten(1).pow(2).sum(1).sqrt()
    return self.m.lambda_gp * ((norm - 1) ** 2).mean()

  def _critic_update(self, loss):
    self.critic_opt.zero_grad(set_to_none=True)
    loss.backward()
    self.critic_opt.step()

  def critic_step(self):
    torch = self.torch
    with torch.no_grad():
      color, attention = self.gen(self.real, self.target)
      fake = self._compose(attention, color, self.real)
    real_map, real_aus = self.critic(self.real)
    fake_map, _ = self.critic(fake)
    loss = fake_map.mean() - real_map.mean() + self._au_loss(real_aus, self.aus)
    if self.m.gp_separate_step:
      self._critic_update(loss)
      self._critic_update(self._penalty(fake))
    else:
      self._critic_update(loss + self._penalty(fake))

  def generator_step(self):
    m = self.m
    self.critic.requires_grad_(False)
    color, attention = self.gen(self.real, self.target)
    fake = self._compose(attention, color, self.real)
    fake_map, fake_aus = self.critic(fake)
    rec_color, rec_attention = self.gen(fake, self.aus)
    rec = self._compose(rec_attention, rec_color, fake)
    loss = (-fake_map.mean() + self._au_loss(fake_aus, self.target)
            + m.lambda_cycle * (rec - self.real).abs().mean()
            + m.lambda_mask * (attention.mean() + rec_attention.mean())
            + m.lambda_mask_tv * (self._tv(attention) + self._tv(rec_attention)))
    self.gen_opt.zero_grad(set_to_none=True)
    loss.backward()
    self.gen_opt.step()
    self.critic.requires_grad_(True)

  def run(self) -> dict[str, float]:
    t0 = time.perf_counter()
    self.critic_step()
    t1 = time.perf_counter()
    self.generator_step()
    t2 = time.perf_counter()
    return {"critic": t1 - t0, "generator": t2 - t1, "iteration": t2 - t0}


def compare(args) -> dict:
  """Both iterations in this process, interleaved; returns the medians and the ratio."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import models  # pylint: disable=g-import-not-at-top
  from fxs_jax import recipes  # pylint: disable=g-import-not-at-top

  config = models.make_config("ganimation", "paper", args.conv_impl)
  config.data.batch_size = args.batch
  config.model.image_size = args.image_size
  resolved = models.set_conv_impl(args.conv_impl)
  recipe = recipes.RECIPES["ganimation"](config)
  rng = np.random.default_rng(0)
  b, s, a = args.batch, args.image_size, config.model.num_aus
  host = recipe.prepare_batch({"image": rng.uniform(-1, 1, (b, s, s, 3)).astype(np.float32),
                               "aus": rng.uniform(0, 5, (b, a)).astype(np.float32)}, rng)
  threads = args.torch_threads or len(os.sched_getaffinity(0))
  ref = TorchGANimation(config, host, threads)
  fxs = models.TrainerIteration(recipe, config, host)
  shapes = fxs.trainer.abstract_state
  counts = {"generator": sum(x.size for x in jax.tree.leaves(shapes.gen_params)),
            "critic": sum(x.size for x in jax.tree.leaves(shapes.critic_params))}
  torch_counts = ref.param_counts()
  print(f"parameters: fxs_jax {counts}, PyTorch {torch_counts}", flush=True)
  if counts != torch_counts:
    raise SystemExit("parameter counts differ: the two architectures are not the same")
  if (s, a) == (128, 17) and counts != EXPECTED_PARAMS_128:
    raise SystemExit(f"parameter counts {counts} differ from GANimation's {EXPECTED_PARAMS_128}")

  for _ in range(args.warmup):
    ref.run()
    fxs.run()
  runs = {"torch": [], "fxs_jax": []}
  for r in range(args.rounds):
    order = ("torch", "fxs_jax") if r % 2 == 0 else ("fxs_jax", "torch")
    for name in order:
      runs[name].append((ref if name == "torch" else fxs).run())
    print(f"round {r + 1}: torch {runs['torch'][-1]['iteration']:.2f} s, "
          f"fxs_jax {runs['fxs_jax'][-1]['iteration']:.2f} s", flush=True)
  result = {"malloc": benchlib.current_malloc_mode(),
            "conv_impl": f"{args.conv_impl} ({resolved})",
            "px": s, "batch": b, "torch_threads": threads, "params": counts,
            "fxs_compile_s": fxs.compile_s, "machine": benchlib.machine_info()}
  for name, values in runs.items():
    for part in ("critic", "generator", "iteration"):
      result[f"{name}_{part}_s"] = benchlib.median([v[part] for v in values])
    result[f"{name}_all_s"] = [round(v["iteration"], 3) for v in values]
  result["ratio"] = result["fxs_jax_iteration_s"] / result["torch_iteration_s"]
  result["ratio_per_round_median"] = benchlib.median(
      [f["iteration"] / t["iteration"] for f, t in zip(runs["fxs_jax"], runs["torch"])])
  result["max_rss_mb"] = benchlib.max_rss_mb()
  return result


TABLE = (("malloc", "malloc"), ("conv", "conv_impl"), ("px", "px"), ("batch", "batch"),
         ("torch threads", "torch_threads"),
         ("torch critic s", "torch_critic_s"), ("torch gen s", "torch_generator_s"),
         ("torch iteration s", "torch_iteration_s"), ("fxs critic s", "fxs_jax_critic_s"),
         ("fxs gen s", "fxs_jax_generator_s"), ("fxs iteration s", "fxs_jax_iteration_s"),
         ("ratio fxs/torch", "ratio"), ("per-round ratio (median)", "ratio_per_round_median"))


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--rounds", type=int, default=5, help="timed iterations of each")
  parser.add_argument("--warmup", type=int, default=1, help="untimed iterations of each")
  parser.add_argument("--malloc", default="reuse,default",
                      help="comma-separated: reuse (as fxs_jax.main), default, hugetlb (each in a fresh "
                           "process), or "
                           "'current' (this process as it is)")
  parser.add_argument("--conv_impl", default="auto", help="fxs_jax's config.compute.conv_impl; "
                      "comma-separated to compare several")
  parser.add_argument("--torch_threads", type=int, default=0,
                      help="torch.set_num_threads (0: the cores this process may use). On a "
                           "busy machine 1 avoids OpenMP's collapse when its threads are "
                           "descheduled; the comparison itself is for an idle machine")
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--image_size", type=int, default=128)
  parser.add_argument("--json", default="", help="also write the results to this JSON file")
  parser.add_argument("--json_out", default="", help=argparse.SUPPRESS)
  args = parser.parse_args()

  if args.json_out or args.malloc == "current":  # one measurement in this process
    results = []
    for impl in args.conv_impl.split(","):
      results.append(compare(argparse.Namespace(**{**vars(args), "conv_impl": impl})))
    if args.json_out:
      Path(args.json_out).write_text(json.dumps(results, indent=1))
      return
  else:
    benchlib.print_machine()
    results = []
    passed = [f"--rounds={args.rounds}", f"--warmup={args.warmup}", f"--batch={args.batch}",
              f"--image_size={args.image_size}", f"--conv_impl={args.conv_impl}",
              f"--torch_threads={args.torch_threads}"]
    for mode in args.malloc.split(","):
      out = benchlib.run_worker(__file__, passed, mode)
      results += out if isinstance(out, list) else [{"malloc": mode, **out}]
  rows = [[r.get(key, "error") for _, key in TABLE] for r in results]
  print()
  print(benchlib.markdown_table([h for h, _ in TABLE], rows))
  if args.json:
    Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
  main()
