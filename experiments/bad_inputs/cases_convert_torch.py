"""``python -m fxs_jax.convert_torch`` (its own process each: its absl flags are defined only when
it runs as a script) on the tiny PyTorch GANimation files of ``tests/data/torch_ganimation`` and
on .pth files that are damaged, hostile (a pickle that asks to run a command) or a zip bomb."""

from __future__ import annotations

import os
import zipfile

from experiments.bad_inputs import fixtures
from experiments.bad_inputs.harness import Case

# configs/ganimation.py:smoke with the test files' sizes (tests/test_convert_torch.py's CLI).
SIZES = ("--config=configs/ganimation.py:smoke", "--config.model.gen_base_channels=4",
         "--config.model.gen_num_res_blocks=2", "--config.model.critic_base_channels=4",
         "--config.model.critic_num_layers=4")
G = "--generator={fx}/official_G.pth"
OUT = "--out={sb}/out"
SIZE = "--image_size=32"
BOMB_CAP_MB = 2500


def _case(name, expect, *argv, **kw) -> Case:
  kw.setdefault("timeout", 150)
  return Case(id=f"convert_torch.{name}", cls="convert_torch", expect=expect,
              module="fxs_jax.convert_torch", argv=SIZES + argv, isolate=True, **kw)


def _export(sb, fx, run):
  del fx, run
  missing = [n for n in ("params.npz", "config.json", "fxs_jax_export.json")
             if not (sb / "out" / n).is_file()]
  return f"the export lacks {', '.join(missing)}" if missing else ""


def _pth(name, make):
  """A setup writing ``sb/<name>`` with ``make(path, fixtures folder)``."""
  def setup(sb, fx):
    make(sb / name, fx)
  return setup


def _copy_then(change, source="official_G.pth"):
  def make(path, fx):
    path.write_bytes((fx / source).read_bytes())
    change(path)
  return make


def _short_storage(path, fx):
  """The replicate file with its first storage cut to a quarter of what its tensor needs."""
  with zipfile.ZipFile(fx / "replicate_G.pth") as archive, zipfile.ZipFile(path, "w") as out:
    storage = next(n for n in archive.namelist() if "/data/" in n)
    for info in archive.infolist():
      data = archive.read(info.filename)
      out.writestr(info, data[:len(data) // 4] if info.filename == storage else data)


def _no_pickle(path, fx):
  del fx
  with zipfile.ZipFile(path, "w") as out:
    out.writestr("archive/data/0", b"\0" * 64)


def _hostile(path, fx):
  del fx
  fixtures.foreign_pth(path, fixtures.Call(os.system, f"touch {path.parent / 'pwned'}"))


def _hostile_eval(path, fx):
  del fx
  marker = str(path.parent / "pwned")
  fixtures.foreign_pth(path, fixtures.Call(eval, f"open({marker!r}, 'w')"))


def _nonempty_out(sb, fx):
  del fx
  (sb / "out").mkdir()
  (sb / "out" / "keep.txt").write_text("the user's file")


def cases() -> list[Case]:
  gen = "--generator={sb}/g.pth"
  return [
      _case("official_generator", "ok", G, SIZE, OUT, check=_export),
      _case("official_with_critic", "ok", G, "--critic={fx}/official_D.pth", SIZE, OUT,
            check=_export),
      _case("replicate_generator", "ok", "--generator={fx}/replicate_G.pth", SIZE, OUT,
            check=_export),
      # --image_size
      _case("image_size_0", "error", G, "--image_size=0", OUT),
      _case("image_size_negative", "error", G, "--image_size=-32", OUT),
      _case("image_size_text", "error", G, "--image_size=big", OUT),
      _case("image_size_not_the_files", "error", G, "--critic={fx}/official_D.pth",
            "--image_size=64", OUT),
      _case("image_size_huge", "error", G, "--image_size=1000000", OUT, mem_cap_mb=BOMB_CAP_MB),
      # the generator file
      _case("generator_missing", "error", "--generator={sb}/nope.pth", SIZE, OUT),
      _case("generator_a_folder", "error", "--generator={fx}/photos", SIZE, OUT),
      _case("generator_text_file", "error", "--generator={fx}/text.jpg", SIZE, OUT),
      _case("generator_a_png", "error", "--generator={fx}/astro.png", SIZE, OUT),
      _case("generator_empty_file", "error", "--generator={fx}/empty.jpg", SIZE, OUT),
      _case("generator_truncated", "error", gen, SIZE, OUT,
            setup=_pth("g.pth", _copy_then(fixtures.truncate))),
      _case("generator_flipped_byte", "error", gen, SIZE, OUT,  # a zip-format file: CRC-checked
            setup=_pth("g.pth", _copy_then(fixtures.flip_entry_byte, "replicate_G.pth"))),
      _case("generator_storage_too_short", "error", gen, SIZE, OUT,
            setup=_pth("g.pth", _short_storage)),
      _case("generator_zip_without_pickle", "error", gen, SIZE, OUT,
            setup=_pth("g.pth", _no_pickle)),
      _case("generator_zip_bomb", "error", "--generator={fx}/bomb.pth", SIZE, OUT,
            mem_cap_mb=BOMB_CAP_MB),
      _case("generator_pickle_runs_a_command", "error", gen, SIZE, OUT,
            setup=_pth("g.pth", _hostile)),
      _case("generator_pickle_calls_eval", "error", gen, SIZE, OUT,
            setup=_pth("g.pth", _hostile_eval)),
      _case("generator_is_the_critic", "error", "--generator={fx}/official_D.pth", SIZE, OUT),
      _case("critic_is_the_generator", "error", G, "--critic={fx}/official_G.pth", SIZE, OUT),
      _case("layout_unknown", "error", G, "--layout=bogus", SIZE, OUT),
      _case("layout_wrong", "error", G, "--layout=replicate", SIZE, OUT),
      # the output
      _case("out_not_empty", "error", G, SIZE, OUT, setup=_nonempty_out),
      _case("out_under_a_file", "error", G, SIZE, "--out={sb}/file/out",
            setup=lambda sb, fx: (sb / "file").write_text("a file\n")),
      _case("out_in_read_only_folder", "error", G, SIZE, "--out={sb}/ro/out",
            setup=lambda sb, fx: fixtures.make_immutable(sb / "ro")),
      _case("out_in_proc", "error", G, SIZE, "--out=/proc/fxs_export"),
      # flags
      _case("out_flag_missing", "error", G, SIZE),
      _case("generator_flag_missing", "error", SIZE, OUT),
      _case("unexpected_argument", "error", G, SIZE, OUT, "extra"),
  ]
