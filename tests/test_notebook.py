"""``experiments/colab_tpu.ipynb`` runs end to end on CPU at smoke size, so it cannot rot.

The notebook's cell tagged "parameters" keeps its defaults (the Colab TPU run) followed by the
overrides below, as papermill would inject them; the kernel is this interpreter, on two simulated
CPU devices so that the mesh really splits the batch.
"""

from pathlib import Path

import nbformat
from ipykernel import kernelspec
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "experiments" / "colab_tpu.ipynb"
KERNEL = "fxs_jax_test"


def _images(cell) -> int:
  return sum("image/png" in out.get("data", {}) for out in cell.get("outputs", []))


def test_colab_notebook_trains_shows_samples_and_reloads_params(smoke_stills, tfds_dir, tmp_path,
                                                                devices_env, monkeypatch):
  del smoke_stills  # built here, so the notebook finds it in DATA_DIR
  nb = nbformat.read(NOTEBOOK, as_version=4)
  (params,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
  workdir = tmp_path / "run"
  params.source += "\n\n# Injected by tests/test_notebook.py: CPU, smoke size.\n" + "\n".join([
      'VARIANT = "smoke"', "STEPS = None", f"WORKDIR = {str(workdir)!r}",
      f"DATA_DIR = {str(tfds_dir)!r}", "INSTALL = False", 'ACCELERATOR = "cpu"',
      "NUM_FACES = 2", 'EMOTIONS = ("happy", "sad")'])

  # A kernel spec for this very interpreter (CI's fresh venv), found first through JUPYTER_PATH.
  prefix = tmp_path / "jupyter"
  kernelspec.install(kernel_name=KERNEL, prefix=str(prefix))
  monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  monkeypatch.setenv("XLA_FLAGS", devices_env(2)["XLA_FLAGS"])
  # Per-cell limit: generous, for a CPU shared with other jobs (compiles dominate the run).
  client = NotebookClient(nb, kernel_name=KERNEL, timeout=1500,
                          resources={"metadata": {"path": str(ROOT)}})
  client.execute()  # raises CellExecutionError, with the cell and traceback, on any error

  text = "".join(out.get("text", "") for c in nb.cells if c.cell_type == "code"
                 for out in c.get("outputs", []))
  assert "'data': 2" in text, text  # two simulated devices on the mesh's data axis
  assert "reloaded edits are identical" in text, text
  for name in ("samples/latest.png", "edits.png", "export/params.npz",
               "export/fxs_jax_export.json"):
    assert (workdir / name).is_file(), name
  assert any(p.name.isdigit() for p in (workdir / "checkpoints").iterdir())
  shown = [_images(c) for c in nb.cells if c.cell_type == "code"]
  assert sum(shown) >= 3, shown  # the data, the newest sample grid, the edits
