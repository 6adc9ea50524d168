"""SRVF / Hilbert-sphere geometry of landmark motions (cWGAN-P3's MotionGAN), in JAX.

landmarks: per-frame normalisation, frame flattening and arc-length resampling (preprocessing);
srvf: the authors' SRVF, its inverse, and motion -> landmarks; sphere: the unit sphere of SRVFs
under ``<q1, q2> = sum(q1 * q2) / T`` (log/exp maps, geodesics, Karcher mean).
"""

from fxs_jax.geometry.landmarks import flatten_frames
from fxs_jax.geometry.landmarks import landmark_nme
from fxs_jax.geometry.landmarks import moved_to
from fxs_jax.geometry.landmarks import normalise_landmarks
from fxs_jax.geometry.landmarks import OUTER_EYE_CORNERS
from fxs_jax.geometry.landmarks import resample_by_arc_length
from fxs_jax.geometry.sphere import exp_map
from fxs_jax.geometry.sphere import geodesic_distance
from fxs_jax.geometry.sphere import geodesic_interpolate
from fxs_jax.geometry.sphere import inner
from fxs_jax.geometry.sphere import karcher_mean
from fxs_jax.geometry.sphere import log_map
from fxs_jax.geometry.sphere import norm
from fxs_jax.geometry.sphere import project_to_sphere
from fxs_jax.geometry.sphere import project_to_tangent
from fxs_jax.geometry.srvf import apply_motion
from fxs_jax.geometry.srvf import motion_on_face
from fxs_jax.geometry.srvf import MOTION_SCALE
from fxs_jax.geometry.srvf import srvf
from fxs_jax.geometry.srvf import srvf_inverse

__all__ = [
    "MOTION_SCALE",
    "OUTER_EYE_CORNERS",
    "apply_motion",
    "exp_map",
    "flatten_frames",
    "geodesic_distance",
    "geodesic_interpolate",
    "inner",
    "karcher_mean",
    "landmark_nme",
    "log_map",
    "motion_on_face",
    "moved_to",
    "norm",
    "normalise_landmarks",
    "project_to_sphere",
    "project_to_tangent",
    "resample_by_arc_length",
    "srvf",
    "srvf_inverse",
]
