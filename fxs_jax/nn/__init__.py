"""Shared building blocks: layers (conv, transposed conv, instance and spectral norm) and blocks.

Layout is NHWC, float32. Every module is a Flax NNX module that works as a pure function under
``jax.jit`` over ``nnx.split`` state.
"""

from fxs_jax.nn.blocks import compose
from fxs_jax.nn.blocks import ConvNormAct
from fxs_jax.nn.blocks import CriticOutput
from fxs_jax.nn.blocks import DownBlock
from fxs_jax.nn.blocks import fused_heads
from fxs_jax.nn.blocks import PatchCritic
from fxs_jax.nn.blocks import ResidualBlock
from fxs_jax.nn.blocks import ResizeConvUpBlock
from fxs_jax.nn.blocks import up_block
from fxs_jax.nn.blocks import UpBlock
from fxs_jax.nn.blocks import UPSAMPLINGS
from fxs_jax.nn.fastconv import conv_impl
from fxs_jax.nn.fastconv import CONV_IMPLS
from fxs_jax.nn.fastconv import resolve_conv_impl
from fxs_jax.nn.init import gan_normal
from fxs_jax.nn.layers import Conv2d
from fxs_jax.nn.layers import conv_output_size
from fxs_jax.nn.layers import conv_transpose_output_size
from fxs_jax.nn.layers import ConvTranspose2d
from fxs_jax.nn.layers import frozen
from fxs_jax.nn.layers import InstanceNorm
from fxs_jax.nn.layers import spectral_normalize
from fxs_jax.nn.layers import SpectralVector

__all__ = [
    "UPSAMPLINGS",
    "up_block",
    "CONV_IMPLS",
    "fused_heads",
    "Conv2d",
    "ConvNormAct",
    "ConvTranspose2d",
    "CriticOutput",
    "DownBlock",
    "InstanceNorm",
    "PatchCritic",
    "ResidualBlock",
    "ResizeConvUpBlock",
    "SpectralVector",
    "UpBlock",
    "compose",
    "conv_impl",
    "conv_output_size",
    "frozen",
    "conv_transpose_output_size",
    "gan_normal",
    "resolve_conv_impl",
    "spectral_normalize",
]
