"""``python -m fxs_jax.faces.prepare FOLDER OUT`` (in the worker through its ``main(argv)``)."""

from __future__ import annotations

import json
import shutil

from experiments.bad_inputs import fixtures
from experiments.bad_inputs.harness import Case

PHOTOS = "{fx}/photos"
OUT = "{sb}/out"


def _case(name, expect, *argv, **kw) -> Case:
  return Case(id=f"prepare.{name}", cls="prepare", expect=expect,
              module="fxs_jax.faces.prepare", argv=argv, **kw)


def _report(kept: set, skipped: set):
  """The report lists exactly ``kept`` and ``skipped`` (file names) as such."""
  def check(sb, fx, run):
    del fx, run
    path = sb / "out" / "report.json"
    if not path.is_file():
      return "no report.json"
    images = json.loads(path.read_text())["images"]
    found = {i["path"]: i["status"] for i in images}
    expected = {**{k: "kept" for k in kept}, **{s: "skipped" for s in skipped}}
    if found != expected:
      return f"the report lists {found}, expected {expected}"
    for name in kept:
      if not (sb / "out" / f"{name}.png").is_file():
        return f"no crop of {name}"
    return ""
  return check


def _broken_photos(sb, fx):
  folder = sb / "in"
  folder.mkdir()
  for name in ("corrupt.png", "truncated.png", "empty.jpg", "text.jpg"):
    shutil.copy(fx / name, folder / name)


def _bomb_folder(sb, fx):
  (sb / "in").mkdir()
  shutil.copy(fx / "bomb.png", sb / "in" / "bomb.png")
  shutil.copy(fx / "astro.png", sb / "in" / "astro.png")


def _inside(sb, fx):
  shutil.copytree(fx / "photos", sb / "in")


def cases() -> list[Case]:
  readonly = lambda sb, fx: fixtures.make_immutable(sb / "ro")
  a_file = lambda sb, fx: (sb / "file").write_text("a file\n")
  return [
      _case("folder", "ok", PHOTOS, OUT, check=_report({"astro.png"}, {"wall.png"})),
      _case("unreadable_photos_are_skipped", "ok", "{sb}/in", OUT, setup=_broken_photos,
            check=_report(set(), {"corrupt.png", "truncated.png", "empty.jpg", "text.jpg"})),
      _case("decompression_bomb_is_skipped", "ok", "{sb}/in", OUT, setup=_bomb_folder,
            check=_report({"astro.png"}, {"bomb.png"}), isolate=True, mem_cap_mb=2500),
      _case("folder_missing", "error", "{sb}/nope", OUT),
      _case("folder_is_a_file", "error", "{fx}/astro.png", OUT),
      _case("folder_without_images", "error", "{fx}/no_images", OUT),
      _case("out_inside_the_folder", "error", "{sb}/in", "{sb}/in/out", setup=_inside),
      _case("out_is_a_file", "error", PHOTOS, "{sb}/file", setup=a_file),
      _case("out_under_a_file", "error", PHOTOS, "{sb}/file/out", setup=a_file),
      _case("out_under_read_only_folder", "error", PHOTOS, "{sb}/ro/out", setup=readonly),
      _case("out_is_read_only_folder", "error", PHOTOS, "{sb}/ro", setup=readonly),
      _case("out_in_proc", "error", PHOTOS, "/proc/fxs_prepare"),
      _case("size_0", "error", PHOTOS, OUT, "--size=0"),
      _case("size_negative", "error", PHOTOS, OUT, "--size=-5"),
      _case("size_text", "error", PHOTOS, OUT, "--size=big"),
      _case("size_100000", "error", PHOTOS, OUT, "--size=100000", isolate=True,
            mem_cap_mb=2500),
      _case("threshold_nan", "error", PHOTOS, OUT, "--threshold=nan"),
      _case("threshold_inf", "error", PHOTOS, OUT, "--threshold=inf"),
      _case("min_face_negative", "error", PHOTOS, OUT, "--min_face=-1"),
      _case("multiple_unknown", "error", PHOTOS, OUT, "--multiple=bogus"),
      _case("framing_unknown", "error", PHOTOS, OUT, "--framing=bogus"),
  ]
