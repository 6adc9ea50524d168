"""Face preprocessing for real photos: detect, align like SynthFaces, paste edits back.

Needs the ``faces`` extra (dlib-bin + face-recognition-models): ``pip install -e '.[faces]'``.
``preprocess(photo)`` gives an :class:`AlignedFace` (crop, landmarks, photo -> crop transform) or
a :class:`Skip` with the reason; ``paste_back`` puts an edited crop back into the photo (with
``face_mask``: only the face and a soft margin around it);
``python -m fxs_jax.faces.prepare FOLDER OUT`` crops a whole folder.
"""

from fxs_jax.faces.alignment import EYE_TEMPLATE
from fxs_jax.faces.alignment import AlignedFace
from fxs_jax.faces.alignment import align
from fxs_jax.faces.alignment import paste_back
from fxs_jax.faces.detect import FaceDetector
from fxs_jax.faces.masks import face_mask
from fxs_jax.faces.preprocessing import Skip
from fxs_jax.faces.preprocessing import load_image
from fxs_jax.faces.preprocessing import preprocess

__all__ = ["EYE_TEMPLATE", "AlignedFace", "FaceDetector", "Skip", "align", "face_mask",
           "load_image", "paste_back", "preprocess"]
