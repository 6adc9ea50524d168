"""The package's imports against the layers of docs/architecture.md (read from its table): every
module placed, no import that climbs a layer, no import loop, and every function-level import of
an fxs_jax module saying why it is deferred."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "fxs_jax"
LAZY_REASON = re.compile(r"#\s*lazy:\s*\S")


def layers_from_doc(text: str) -> list[tuple[str, list[str]]]:
  """``[(layer, [module prefixes])]`` bottom first, from the table between the layers markers."""
  table = text.split("<!-- layers -->")[1].split("<!-- /layers -->")[0]
  layers = []
  for line in table.strip().splitlines()[2:]:  # after the header and its rule
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    layers.append((cells[0], re.findall(r"`([\w.]+)`", cells[1])))
  return layers


def module_name(path: Path, root: Path = ROOT) -> str:
  parts = list(path.relative_to(root).with_suffix("").parts)
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str], root: Path = ROOT
               ) -> list[tuple[str, int, bool, str]]:
  """``(imported module, line, at module level, source line)`` of each fxs_jax import."""
  name, source = module_name(path, root), path.read_text()
  tree, lines = ast.parse(source), source.splitlines()
  top_level = {id(node) for node in tree.body}
  found = []
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      targets = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        package = name.split(".")[:len(name.split(".")) - node.level + (path.name == "__init__.py")]
        base = ".".join(package + ([node.module] if node.module else []))
      targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
    else:
      continue
    for target in targets:
      while target and target not in modules:  # `import fxs_jax.data.augment as x` and the like
        target = target.rpartition(".")[0]
      if target.startswith("fxs_jax") and target != name:
        found.append((target, node.lineno, id(node) in top_level, lines[node.lineno - 1]))
  return found


def layer_of(module: str, layers) -> int | None:
  """The index of the layer whose longest prefix matches ``module``."""
  best, best_len = None, -1
  for index, (_, prefixes) in enumerate(layers):
    for prefix in prefixes:
      if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
        best, best_len = index, len(prefix)
  return best


@pytest.fixture(scope="module")
def graph():
  layers = layers_from_doc((ROOT / "docs" / "architecture.md").read_text())
  paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
  edges = {m: imports_of(p, set(paths)) for m, p in paths.items()}
  return layers, paths, edges


def test_the_layer_table_reads_as_written():
  layers = layers_from_doc((ROOT / "docs" / "architecture.md").read_text())
  names = [name for name, _ in layers]
  assert names[0] == "base" and names[-1] == "entry" and len(names) == len(set(names))
  assert layer_of("fxs_jax.train.trainer", layers) == names.index("training")
  assert layer_of("fxs_jax.train.state", layers) == names.index("checkpoint")
  assert layer_of("fxs_jax.serve.app", layers) == names.index("apps")
  assert layer_of("fxs_jax.serve.__main__", layers) == names.index("entry")


def test_every_module_has_a_layer(graph):
  layers, paths, _ = graph
  unplaced = sorted(m for m in paths if layer_of(m, layers) is None)
  assert not unplaced, f"add these modules to docs/architecture.md's layers: {unplaced}"


def test_no_import_climbs_a_layer(graph):
  layers, _, edges = graph
  climbing = []
  for module, found in edges.items():
    own = layer_of(module, layers)
    for target, line, _, _ in found:
      if own is not None and layer_of(target, layers) > own:
        climbing.append(f"{module}:{line} ({layers[own][0]}) imports {target} "
                        f"({layers[layer_of(target, layers)][0]})")
  assert not climbing, "\n".join(climbing)


def test_no_import_loop(graph):
  _, _, edges = graph
  successors = {m: {t for t, _, _, _ in found} for m, found in edges.items()}
  index, low, stack, on_stack, loops = {}, {}, [], set(), []

  def visit(v):  # Tarjan's strongly connected components
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in successors.get(v, ()):
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      component = []
      while True:
        w = stack.pop()
        on_stack.discard(w)
        component.append(w)
        if w == v:
          break
      if len(component) > 1:
        loops.append(sorted(component))

  for module in sorted(successors):
    if module not in index:
      visit(module)
  assert not loops, f"import loops: {loops}"


def test_deferred_imports_say_why(graph):
  _, _, edges = graph
  silent = [f"{module}:{line}: {text.strip()}" for module, found in edges.items()
            for _, line, top, text in found if not top and not LAZY_REASON.search(text)]
  assert not silent, "function-level imports need '# lazy: <reason>':\n" + "\n".join(silent)


def test_the_checks_catch_a_climbing_import_and_a_loop(tmp_path):
  """The checks themselves, on a hand-made graph: a recipe importing the photos app climbs; two
  modules importing each other are a loop."""
  layers = layers_from_doc((ROOT / "docs" / "architecture.md").read_text())
  recipes, apps = layer_of("fxs_jax.recipes.toy", layers), layer_of("fxs_jax.photos", layers)
  assert apps > recipes
  module = tmp_path / "fxs_jax" / "recipes" / "toy.py"
  module.parent.mkdir(parents=True)
  module.write_text("from fxs_jax import photos\n\ndef f():\n  from fxs_jax import viz\n")
  found = imports_of(module, {"fxs_jax.recipes.toy", "fxs_jax.photos", "fxs_jax.viz"}, tmp_path)
  assert [(t, top) for t, _, top, _ in found] == [("fxs_jax.photos", True), ("fxs_jax.viz", False)]
  assert not LAZY_REASON.search(found[1][3])  # the deferred import gives no reason
