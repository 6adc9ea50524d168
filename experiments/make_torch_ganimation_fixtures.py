"""PyTorch GANimation networks of both published codebases, saved as their code saves them, and
their outputs on a fixed input: the oracle ``tests/test_convert_torch.py`` checks
``fxs_jax.convert_torch`` against without torch.

  nice -n 15 python experiments/make_torch_ganimation_fixtures.py [--out=DIR]

Needs the ``bench`` extra (torch). Writes into DIR (default ``tests/data/torch_ganimation/``), per
layout (``official``: albertpumarola/GANimation; ``replicate``: donydchen/ganimation_replicate):
``<layout>_G.pth`` and ``<layout>_D.pth``, ``torch.save(net.state_dict())`` as each code saves
(the official code ran on PyTorch 0.3: the pre-1.6 format, with 0.3's InstanceNorm running
statistics; the replicate's: the zip format, plain keys), and ``<layout>_outputs.npz``: the input
image (NCHW, in [-1, 1]) and AUs (in [0, 1]), the colour and attention masks, the critic's
real/fake map and AU output on that image (NCHW, before the codebases' ``squeeze``).

The networks are written from the two codebases' module structure (the parameter names are what
the converter maps), at a tiny size (``SIZES``: 32 px, 4 channels, 2 residual blocks, a 4-layer
critic) so that all files stay small. Weights are PyTorch's default initialisation rather than
the codebases' N(0, 0.02), so that every output varies visibly; the official InstanceNorms'
affine parameters and every conv bias (including the replicate's biases before its non-affine
InstanceNorms, which the conversion drops) are random too.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

# The fxs_jax config the fixtures fit: configs/ganimation.py:smoke with these model fields.
SIZES = {"image_size": 32, "num_aus": 17, "gen_base_channels": 4, "gen_num_res_blocks": 2,
         "critic_base_channels": 4, "critic_num_layers": 4}
LAYOUTS = ("official", "replicate")
BATCH = 2


def networks(layout: str, sizes: dict = SIZES, use_dropout: bool = False):
  """``(generator, critic)`` as ``layout``'s code builds them (torch imported here: optional).
  ``use_dropout``: the replicate's ``--use_dropout`` (a Dropout inside each residual block)."""
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top

  official = layout == "official"
  a, c, res = sizes["num_aus"], sizes["gen_base_channels"], sizes["gen_num_res_blocks"]
  # Official: affine InstanceNorms, bias-free convs. Replicate (--norm=instance): non-affine
  # InstanceNorms, and every generator conv before one has a bias.
  norm = (lambda n: nn.InstanceNorm2d(n, affine=True)) if official else (
      lambda n: nn.InstanceNorm2d(n, affine=False, track_running_stats=False))
  bias = not official

  def conv_norm_relu(cin, cout, k, s, p, transpose=False):
    conv_cls = nn.ConvTranspose2d if transpose else nn.Conv2d
    return [conv_cls(cin, cout, k, s, p, bias=bias), norm(cout), nn.ReLU(inplace=True)]

  class Residual(nn.Module):

    def __init__(self, dim):
      super().__init__()
      body = [nn.Conv2d(dim, dim, 3, 1, 1, bias=bias), norm(dim), nn.ReLU(inplace=True)]
      if use_dropout:
        body.append(nn.Dropout(0.5))
      body += [nn.Conv2d(dim, dim, 3, 1, 1, bias=bias), norm(dim)]
      # Official: ResidualBlock.main; replicate: ResnetBlock.conv_block (zero padding).
      setattr(self, "main" if official else "conv_block", nn.Sequential(*body))

    def forward(self, x):
      return x + (self.main if official else self.conv_block)(x)

  class Generator(nn.Module):

    def __init__(self):
      super().__init__()
      layers = conv_norm_relu(3 + a, c, 7, 1, 3)
      layers += conv_norm_relu(c, 2 * c, 4, 2, 1) + conv_norm_relu(2 * c, 4 * c, 4, 2, 1)
      layers += [Residual(4 * c) for _ in range(res)]
      layers += (conv_norm_relu(4 * c, 2 * c, 4, 2, 1, transpose=True)
                 + conv_norm_relu(2 * c, c, 4, 2, 1, transpose=True))
      trunk = nn.Sequential(*layers)
      color = nn.Sequential(nn.Conv2d(c, 3, 7, 1, 3, bias=False), nn.Tanh())
      attention = nn.Sequential(nn.Conv2d(c, 1, 7, 1, 3, bias=False), nn.Sigmoid())
      names = ("main", "img_reg", "attetion_reg") if official else ("model", "color_top", "au_top")
      for name, module in zip(names, (trunk, color, attention)):
        setattr(self, name, module)
      self.parts = names

    def forward(self, image, aus):
      tiled = aus[:, :, None, None].expand(-1, -1, image.shape[2], image.shape[3])
      trunk, color, attention = (getattr(self, n) for n in self.parts)
      h = trunk(torch.cat([image, tiled], 1))
      return color(h), attention(h)

  class Critic(nn.Module):

    def __init__(self):
      super().__init__()
      cd, layers_n, cin = sizes["critic_base_channels"], sizes["critic_num_layers"], 3
      layers = []
      for _ in range(layers_n):
        layers += [nn.Conv2d(cin, cd, 4, 2, 1), nn.LeakyReLU(0.01, inplace=True)]
        cin, cd = cd, 2 * cd
      final = sizes["image_size"] // 2 ** layers_n
      names = ("main", "conv1", "conv2") if official else ("model", "dis_top", "aus_top")
      setattr(self, names[0], nn.Sequential(*layers))
      setattr(self, names[1], nn.Conv2d(cin, 1, 3, 1, 1, bias=False))
      setattr(self, names[2], nn.Conv2d(cin, a, final, 1, 0, bias=False))
      self.parts = names

    def forward(self, image):  # NCHW map and (B, A): before the codebases' squeeze()
      trunk, map_head, aus_head = (getattr(self, n) for n in self.parts)
      h = trunk(image)
      return map_head(h), aus_head(h).flatten(1)

  return Generator(), Critic()


def randomize(*nets, seed: int = 0) -> None:
  """Random InstanceNorm affine parameters and conv biases (default init leaves 1 and 0 / small
  uniform); conv weights keep PyTorch's default init."""
  import torch  # pylint: disable=g-import-not-at-top
  generator = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for net in nets:
      for module in net.modules():
        if isinstance(module, torch.nn.InstanceNorm2d) and module.affine:
          module.weight.copy_(0.5 + torch.rand(module.weight.shape, generator=generator))
          module.bias.copy_(0.5 * torch.randn(module.bias.shape, generator=generator))
        elif isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) and (
            module.bias is not None):
          module.bias.copy_(0.5 * torch.randn(module.bias.shape, generator=generator))


def inputs(sizes: dict = SIZES, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """A fixed batch: image (B, 3, H, W) in [-1, 1] and AUs (B, A) in [0, 1]."""
  rng = np.random.default_rng(seed)
  s = sizes["image_size"]
  image = rng.uniform(-1, 1, (BATCH, 3, s, s)).astype(np.float32)
  aus = rng.uniform(0, 1, (BATCH, sizes["num_aus"])).astype(np.float32)
  return image, aus


def outputs(generator, critic, image: np.ndarray, aus: np.ndarray) -> dict[str, np.ndarray]:
  """The networks' outputs (eval mode, float32) on the batch, as numpy."""
  import torch  # pylint: disable=g-import-not-at-top
  generator.eval()
  critic.eval()
  with torch.no_grad():
    color, attention = generator(torch.from_numpy(image), torch.from_numpy(aus))
    critic_map, critic_aus = critic(torch.from_numpy(image))
  return {"image": image, "aus": aus, "color": color.numpy(), "attention": attention.numpy(),
          "critic_map": critic_map.numpy(), "critic_aus": critic_aus.numpy()}


def _as_saved(layout: str, generator, seed: int) -> dict:
  """The generator's state_dict as ``layout``'s code wrote it. PyTorch 0.3's InstanceNorm2d kept
  ``running_mean`` / ``running_var`` buffers (updated, never used: it always normalised with the
  sample's statistics), so the official code's files hold them; they are added here, random."""
  import torch  # pylint: disable=g-import-not-at-top
  state = generator.state_dict()
  if layout != "official":
    return state
  generator_rng = torch.Generator().manual_seed(seed + 1)
  for name, module in generator.named_modules():
    if isinstance(module, torch.nn.InstanceNorm2d):
      shape = module.weight.shape
      state[f"{name}.running_mean"] = torch.randn(shape, generator=generator_rng)
      state[f"{name}.running_var"] = torch.rand(shape, generator=generator_rng) + 0.5
  return state


def save(layout: str, out_dir: Path, sizes: dict = SIZES, seed: int = 0,
         use_dropout: bool = False) -> dict[str, Path]:
  """Builds, randomises and saves ``layout``'s networks as its code does, and their outputs;
  returns the paths (``G``, ``D``, ``outputs``)."""
  import torch  # pylint: disable=g-import-not-at-top
  torch.manual_seed(seed)
  generator, critic = networks(layout, sizes, use_dropout)
  randomize(generator, critic, seed=seed)
  out_dir.mkdir(parents=True, exist_ok=True)
  paths = {"G": out_dir / f"{layout}_G.pth", "D": out_dir / f"{layout}_D.pth",
           "outputs": out_dir / f"{layout}_outputs.npz"}
  # Official (PyTorch 0.3): torch.save(network.state_dict(), path), the pre-1.6 format.
  # Replicate: torch.save(net.module.cpu().state_dict(), path), plain keys, the zip format.
  legacy = {"_use_new_zipfile_serialization": False} if layout == "official" else {}
  torch.save(_as_saved(layout, generator, seed), paths["G"], **legacy)
  torch.save(critic.state_dict(), paths["D"], **legacy)
  np.savez_compressed(paths["outputs"], **outputs(generator, critic, *inputs(sizes, seed)))
  return paths


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "tests" / "data"
                                            / "torch_ganimation"))
  args = parser.parse_args()
  total = 0
  for layout in LAYOUTS:
    for path in save(layout, Path(args.out)).values():
      total += path.stat().st_size
      print(f"{path} ({path.stat().st_size / 1024:.0f} KB)")
  print(f"total {total / 1024:.0f} KB")


if __name__ == "__main__":
  main()
