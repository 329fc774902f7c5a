"""The package's layers, checked on its import statements (ast): every import points down.

entries (main, generate, cli) -> poster -> families -> training -> evaluation
-> models / text / diffusion -> data -> io / config; configs/ import only config/.
"""

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "posergen_jax"

# Layer of each top-level part of the package; a module may import its own layer and below.
LAYERS = {
    "main": 6,
    "generate": 6,
    "export": 6,
    "distil": 6,
    "aot": 6,
    "demo": 6,
    "__main__": 7,
    "cli": 6,
    "poster": 5,
    "families": 4,
    "training": 3,
    "evaluation": 2,
    "models": 1,
    "text": 1,
    "diffusion": 1,
    "data": 0,
    "io": -1,
    "config": -1,
}
# Stricter than the layers: these parts may not import those, whatever the layer.
FORBIDDEN = {
    "models": {"data", "text"},
    "diffusion": {"data", "text", "models"},
    "io": {"config"},
}


def _part(module: str) -> str | None:
  """'posergen_jax.training.trainer' -> 'training'; None outside the package."""
  parts = module.split(".")
  if parts[0] != "posergen_jax" or len(parts) < 2:
    return None
  return parts[1]


def _imports(path: pathlib.Path) -> list[str]:
  """Dotted names of every module `path` imports (`from a.b import c` gives a.b and a.b.c)."""
  names = []
  for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
    if isinstance(node, ast.Import):
      names += [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      names.append(node.module)
      names += [f"{node.module}.{alias.name}" for alias in node.names]
  return names


def _package_modules(root: pathlib.Path):
  """(path, part) of every module under root/posergen_jax; part is its first folder or name."""
  package = root / "posergen_jax"
  for path in sorted(package.rglob("*.py")):
    part = path.relative_to(package).parts[0].removesuffix(".py")
    if part != "__init__":
      yield path, part


def layer_violations(root: pathlib.Path = ROOT) -> list[str]:
  """'file imports module' for every import under `root` that points up the layers or into a
  forbidden part, and every import of configs/ (installed as posergen_jax.configs) outside
  posergen_jax.configs.* and posergen_jax.config.*."""
  found = []
  for path, part in _package_modules(root):
    for name in _imports(path):
      target = _part(name)
      if target not in LAYERS or target == part:
        continue
      if LAYERS[target] > LAYERS[part] or target in FORBIDDEN.get(part, ()):
        found.append(f"{path.relative_to(root)} imports {name}")
  for path in sorted((root / "configs").glob("*.py")):
    for name in _imports(path):
      top = name.split(".")[0]
      if name in ("posergen_jax", "posergen_jax.config", "posergen_jax.configs") or (
          name.startswith(("posergen_jax.config.", "posergen_jax.configs."))
      ):
        continue
      if top == "posergen_jax" or (ROOT / top).exists():
        found.append(f"{path.relative_to(root)} imports {name}")
  return sorted(set(found))


def test_every_import_points_down_the_layers():
  assert layer_violations() == []


def test_every_part_of_the_package_has_a_layer():
  parts = {part for _, part in _package_modules(ROOT)}
  assert parts <= set(LAYERS), sorted(parts - set(LAYERS))


@pytest.mark.parametrize(
    "folder, source",
    [
        ("posergen_jax/training", "from posergen_jax.families import sr3"),
        ("posergen_jax/training", "import posergen_jax.main"),
        ("posergen_jax/families", "from posergen_jax.poster import pipeline"),
        ("posergen_jax/models", "from posergen_jax.data import preprocess"),
        ("posergen_jax/diffusion", "from posergen_jax.training import trainer"),
        ("configs", "from posergen_jax.training import trainer"),
        ("configs", "import posergen_jax.families.sr3"),
    ],
)
def test_an_import_against_the_layers_is_caught(folder, source, tmp_path):
  probe = tmp_path / folder / "probe.py"
  probe.parent.mkdir(parents=True)
  probe.write_text(source + "\n")
  violations = layer_violations(tmp_path)
  assert violations and all(
      v.startswith(f"{folder}/probe.py imports posergen_jax.") for v in violations
  ), violations


def test_the_trainer_loads_no_family():
  code = (
      "import sys, posergen_jax.training.trainer; "
      "print([m for m in sys.modules if m.startswith('posergen_jax.families')])"
  )
  out = subprocess.run(
      [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
  ).stdout
  assert out.strip().splitlines()[-1] == "[]"
