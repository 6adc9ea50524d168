"""The FACS vocabulary against the EMFACS prototypes written out literally."""

import numpy as np
import pytest

from fxs_jax import facs
from fxs_jax.errors import UserError

# Active AUs of each prototype (EMFACS), independent of fxs_jax.facs' own table.
_EMFACS = {
    "neutral": set(), "happy": {"AU06", "AU12", "AU25"}, "sad": {"AU01", "AU04", "AU15", "AU17"},
    "surprised": {"AU01", "AU02", "AU05", "AU25", "AU26"},
    "angry": {"AU04", "AU05", "AU07", "AU23", "AU17"},
    "fearful": {"AU01", "AU02", "AU04", "AU05", "AU07", "AU20", "AU25", "AU26"},
    "disgusted": {"AU09", "AU10", "AU15", "AU17", "AU25"}, "contemptuous": {"AU12", "AU14"},
}


def test_vocabulary_order_is_ganimation_openface_and_rafd():
  assert facs.AU_NAMES == ("AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12",
                           "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU45")
  assert facs.NUM_AUS == 17 and facs.AU_MAX == 5.0
  assert set(facs.AU_DESCRIPTIONS) == set(facs.AU_NAMES)
  assert facs.AU_DESCRIPTIONS["AU12"] == "lip corner puller"
  assert facs.EMOTIONS == ("neutral", "happy", "sad", "surprised", "angry", "fearful",
                           "disgusted", "contemptuous")
  assert facs.NUM_EMOTIONS == 8


def test_every_prototype_is_an_emotion_made_of_known_aus():
  # pylint: disable-next=protected-access
  prototypes = facs._PROTOTYPES
  assert set(prototypes) == set(facs.EMOTIONS)
  for name, aus in prototypes.items():
    assert set(aus) <= set(facs.AU_NAMES), name
    assert all(0 < v <= facs.AU_MAX for v in aus.values()), name


def test_happy_is_cheek_raiser_lip_corner_puller_lips_part():
  v = facs.emotion_aus("happy")
  expected = np.zeros(17, np.float32)
  expected[4], expected[8], expected[14] = 3.5, 4.5, 1.5  # AU06, AU12, AU25 in AU_NAMES order
  assert v.shape == (17,) and v.dtype == np.float32
  np.testing.assert_array_equal(v, expected)


def test_emotion_prototypes():
  for label, name in enumerate(facs.EMOTIONS):
    v = facs.emotion_aus(name)
    assert v.shape == (17,) and v.dtype == np.float32
    assert {facs.AU_NAMES[i] for i in np.flatnonzero(v > 0)} == _EMFACS[name]
    assert np.all((v >= 0) & (v <= 5))
    assert np.array_equal(facs.emotion_aus(label), v)
    assert np.array_equal(facs.emotion_aus(name.upper()), v)
    np.testing.assert_allclose(facs.emotion_aus(name, 0.5), v * 0.5, rtol=1e-6)
    assert np.all(facs.emotion_aus(name, 10.0) <= 5.0)


def test_emotion_aus_rejects_unknown_emotions():
  with pytest.raises(ValueError, match="happy"):
    facs.emotion_aus("joyful")
  with pytest.raises(ValueError, match=r"\[0, 7\]"):
    facs.emotion_aus(8)
  with pytest.raises(ValueError, match="finite"):
    facs.emotion_aus("sad", float("nan"))


def test_emotion_index_is_the_label():
  assert [facs.emotion_index(name) for name in facs.EMOTIONS] == list(range(8))
  assert facs.emotion_index("contemptuous", "config.generate") == 7


def test_emotion_index_error_names_the_bad_name_and_the_choices():
  choices = "neutral, happy, sad, surprised, angry, fearful, disgusted, contemptuous"
  with pytest.raises(UserError) as info:
    facs.emotion_index("joyful", "config.generate")
  assert str(info.value) == f"Unknown emotion 'joyful' in config.generate: choose from {choices}."
  with pytest.raises(UserError) as info:
    facs.emotion_index("Happy")  # names are exact: configs spell them as EMOTIONS does
  assert str(info.value) == f"Unknown emotion 'Happy': choose from {choices}."
