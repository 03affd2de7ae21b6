"""The import layers of pyproject.toml's [tool.importlinter] contracts: kept by the tree, and broken, naming the
import, when one upward import or one cycle is planted in a copy of it. `lint-imports` runs for real, in a
subprocess, so the copy's packages are the ones it reads.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())
LINTER = CONFIG["tool"]["importlinter"]
LAYERS = next(c for c in LINTER["contracts"] if c["type"] == "layers")
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """`lint-imports` on the packages under `root` (it puts its working folder first on the path)."""
    return subprocess.run([sys.executable, "-c", LINT, "--no-cache", "--no-logo", "--config", "pyproject.toml"],
                          cwd=root, capture_output=True, text=True, timeout=120)


def copy_tree(target: Path) -> Path:
    """The Python sources of every root package, and pyproject.toml, copied under `target`."""
    def not_source(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if n == "__pycache__" or (not n.endswith(".py") and not (Path(folder) / n).is_dir())]

    for package in LINTER["root_packages"]:
        shutil.copytree(ROOT / package, target / package, ignore=not_source)
    shutil.copy(ROOT / "pyproject.toml", target)
    return target


def test_every_package_is_placed_in_a_layer():
    packages = {p for p in CONFIG["tool"]["setuptools"]["packages"] if "." not in p}
    placed = [layer.split("#")[0].strip() for layer in LAYERS["layers"]]
    assert set(LINTER["root_packages"]) == packages == set(placed) and len(placed) == len(packages)


def test_the_tree_keeps_its_layers_and_has_no_cycles_in_rl_or_decision():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 2 kept, 0 broken." in done.stdout


PLANTED = [
    # (module, planted code, the contract's complaint, the import it must name)
    ("nodes/remediation.py", "import graph.runner", "nodes is not allowed to import graph", "nodes.remediation -> graph.runner"),
    ("decision/observation.py", "from rl import env", "decision is not allowed to import rl", "decision.observation -> rl.env"),
    # An import inside a function (how torch is kept out of start-up) is an import all the same.
    ("nodes/drift.py", "def _later():\n    import simulator.world", "nodes is not allowed to import simulator",
     "nodes.drift -> simulator.world"),
    # The MCP servers' exception is one import wide: anything else they import from above still breaks.
    ("stores/mcp/incidents.py", "import rl.policies", "stores is not allowed to import rl", "stores.mcp.incidents -> rl.policies"),
    ("rl/ppo.py", "import rl.online", "No cycles are allowed in rl", ".ppo -> .online"),
]


@pytest.mark.parametrize("module, code, complaint, named", PLANTED, ids=[p[3] for p in PLANTED])
def test_a_planted_upward_import_or_cycle_breaks_the_contract_naming_it(tmp_path, module, code, complaint, named):
    tree = copy_tree(tmp_path)
    before = lint_imports(tree)
    assert before.returncode == 0, before.stdout + before.stderr  # the copy alone is clean: the plant is what breaks it
    with (tree / module).open("a") as handle:
        handle.write(f"\n\n{code}  # noqa\n")
    done = lint_imports(tree)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Contracts: 1 kept, 1 broken." in done.stdout
    assert complaint in done.stdout and named in done.stdout
