"""One recipe per paper: model init, the critic and generator losses, a sampler and metrics.

``RECIPES`` maps ``config.model_name`` to the recipe class (a dict, not a registry framework).
"""

from fxs_jax.recipes.attgan import AttGAN
from fxs_jax.recipes.c2gan import C2GAN
from fxs_jax.recipes.cgan_transfer import CGANTransfer
from fxs_jax.recipes.cyclegan import CycleGAN
from fxs_jax.recipes.ganimation import GANimation
from fxs_jax.recipes.lgpgan import LGPGAN
from fxs_jax.recipes.mocogan import MoCoGAN
from fxs_jax.recipes.motiongan import MotionGAN
from fxs_jax.recipes.stargan import StarGAN
from fxs_jax.recipes.texturegan import TextureGAN
from fxs_jax.recipes.tgan import TGAN
from fxs_jax.recipes.vgan import VGAN

RECIPES = {"ganimation": GANimation, "lgpgan": LGPGAN, "cgan_transfer": CGANTransfer,
           "motiongan": MotionGAN, "texturegan": TextureGAN,
           "stargan": StarGAN, "attgan": AttGAN, "cyclegan": CycleGAN,
           "c2gan": C2GAN, "mocogan": MoCoGAN, "tgan": TGAN, "vgan": VGAN}
