"""The folder of a user's download: its layout checked, its photos found, its contents
fingerprinted (to rebuild when they change), its subjects numbered and split (train,
validation, test)."""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Iterable, Sequence, TypeVar

import numpy as np

from fxs_jax.errors import DatasetError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff")
MAX_IDENTITY = 2**31 - 1  # identities are stored as int32
SPLITS = ("train", "validation", "test")
Example = TypeVar("Example")  # anything with ``identity`` and ``split`` (None: by subject)


def require_layout(manual_dir: Path | None, required: Sequence[str], dataset: str,
                   layout: str) -> Path:
  """``manual_dir``, checked to exist and hold each relative path of ``required``.

  Raises:
    DatasetError: one line naming the missing path and the expected layout.
  """
  if manual_dir is None or not Path(manual_dir).is_dir():
    raise DatasetError(
        f"{dataset}: manual download folder {manual_dir} does not exist; unpack the dataset "
        f"there so that it holds {layout} (or set $FXS_JAX_MANUAL_DIR to a folder holding "
        f"{dataset}/, or pass --config.data.manual_dir=<folder>).")
  manual_dir = Path(manual_dir)
  for relative in required:
    if not (manual_dir / relative).exists():
      raise DatasetError(
          f"{dataset}: {manual_dir / relative} is missing; the manual folder {manual_dir} must "
          f"hold {layout}.")
  return manual_dir


def find_files(folder: Path, suffixes: Iterable[str] = IMAGE_SUFFIXES) -> list[Path]:
  """Files under ``folder`` with one of ``suffixes`` (any case; recursive), sorted."""
  suffixes = tuple(s.lower() for s in suffixes)
  found = []
  for root, dirs, files in os.walk(folder):
    dirs.sort()
    found += [Path(root, f) for f in sorted(files) if Path(f).suffix.lower() in suffixes]
  return found


def fingerprint(manual_dir: Path) -> str:
  """A hash of every file's relative path, size and mtime under ``manual_dir``."""
  digest = hashlib.sha256()
  for root, dirs, files in os.walk(manual_dir):
    dirs.sort()
    for name in sorted(files):
      path = Path(root, name)
      try:
        stat = path.stat()
      except OSError:  # a broken link: its name still counts (the build reports it unreadable)
        stat = path.lstat()
      digest.update(f"{path.relative_to(manual_dir)}\0{stat.st_size}\0{stat.st_mtime_ns}\n"
                    .encode())
  return digest.hexdigest()


def subject_split(identities: Iterable[int], test_fraction: float) -> tuple[set, set]:
  """(train ids, test ids): the last ``ceil(fraction * n)`` of the sorted ids test (>= 1 each
  side when there are two or more subjects)."""
  ids = sorted(set(identities))
  num_test = min(max(1, math.ceil(test_fraction * len(ids))), len(ids) - 1) if len(ids) > 1 else 0
  return set(ids[:len(ids) - num_test]), set(ids[len(ids) - num_test:])


def validation_subjects(train_ids: Iterable[int], num_subjects: int, fraction: float,
                        minimum: int = 1) -> set:
  """The validation ids carved out of ``train_ids``: the last ``ceil(fraction * num_subjects)``
  of the sorted train ids (``num_subjects``: all splits'), at least ``minimum``, leaving at
  least ``minimum`` in train; none when train holds fewer than ``2 * minimum`` or ``fraction``
  is 0. The test ids are not touched, so a published test split stays what it was."""
  ids = sorted(set(train_ids))
  if fraction <= 0 or len(ids) < 2 * minimum:
    return set()
  count = min(max(minimum, math.ceil(fraction * num_subjects)), len(ids) - minimum)
  return set(ids[len(ids) - count:])


def subject_number(folder_name: str) -> int:
  """The number in a subject folder's name (``S005`` -> 5, ``P012`` -> 12), else (no ASCII digit,
  or a number too large for int32) a stable hash."""
  digits = "".join(c for c in folder_name if c in "0123456789")  # "²".isdigit() is True
  if digits and int(digits) <= MAX_IDENTITY:
    return int(digits)
  return int(hashlib.sha256(folder_name.encode()).hexdigest()[:7], 16)


def resample_indices(num_available: int, num_frames: int) -> np.ndarray:
  """``num_frames`` indices from 0 to ``num_available - 1``, evenly spaced (repeats if short)."""
  return np.round(np.linspace(0, num_available - 1, num_frames)).astype(np.int64)


def split_by_subject(examples: Sequence[Example], test_fraction: float,
                     validation_fraction: float, per_split: int = 1
                     ) -> tuple[dict[str, list[Example]], dict[str, int]]:
  """({split: its examples}, {split: number of subjects}), subject-disjoint.

  Test: the download's own (every example's ``split`` set), else the last ``test_fraction`` of
  the sorted subjects (:func:`subject_split`). Validation: carved out of the train subjects
  (:func:`validation_subjects`, at least ``per_split`` subjects, leaving as many in train).
  Validation is left out of the dict when it gets no subjects (too few of them); train and
  test never are (an empty one fails the build, naming what is missing).
  """
  fixed = all(e.split for e in examples)
  if fixed:
    test_ids = {e.identity for e in examples if e.split == "test"}
    train_ids = {e.identity for e in examples if e.split == "train"} - test_ids
  else:
    train_ids, test_ids = subject_split((e.identity for e in examples), test_fraction)
  validation_ids = validation_subjects(train_ids, len(train_ids | test_ids), validation_fraction,
                                       per_split)

  def split_of(example) -> str:
    split = example.split if fixed else "test" if example.identity in test_ids else "train"
    return "validation" if split == "train" and example.identity in validation_ids else split

  groups = {"train": train_ids - validation_ids, "validation": validation_ids, "test": test_ids}
  splits = {name: [e for e in examples if split_of(e) == name] for name in SPLITS
            if groups[name] or name != "validation"}
  return splits, {name: len(ids) for name, ids in groups.items()}
