"""The import contracts guard the trust boundary; these tests make sure they can fail.

`lint-imports` runs in `make test` before pytest. Here: every server-side module is named in the
contracts (a new one cannot slip past them), and a scorer import planted in a copy of the tree,
directly or through a kernel module, breaks the build.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def test_every_server_side_module_is_forbidden_to_the_kernel_and_the_scorer() -> None:
    server_side = {f"autolab_mcp.{p.stem}" for p in (ROOT / "autolab_mcp").glob("*.py") if p.stem != "__init__"}
    server_side |= {f"autolab_mcp.{p.name}" for p in (ROOT / "autolab_mcp").iterdir()
                    if p.is_dir() and (p / "__init__.py").exists() and p.name != "core"}
    contracts = _contracts()
    for contract in ("kernel", "scorer"):
        missing = server_side - set(contracts[contract]["forbidden_modules"])
        assert not missing, f"add {sorted(missing)} to the {contract!r} contract's forbidden_modules"


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tree)})


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    copy = tmp_path / "tree"
    copy.mkdir()
    for name in ("autolab_mcp", "scorer", "clients"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def test_the_contracts_hold_on_this_tree(tree: Path) -> None:
    result = _lint(tree)
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize(("module", "planted", "broken"), [
    ("autolab_mcp/server.py", "import scorer.evaluate", "the agent-facing side never imports scorer code"),
    ("autolab_mcp/core/taskspec.py", "import autolab_mcp.episode", "the kernel imports neither"),
    ("scorer/timing.py", "import autolab_mcp.workspace", "the scorer depends on the kernel only"),
    # indirect: the server imports the kernel, which (wrongly) imports the scorer
    ("autolab_mcp/core/archive.py", "import scorer.harness", "the agent-facing side never imports scorer code"),
])
def test_a_wrong_import_breaks_the_build(tree: Path, module: str, planted: str, broken: str) -> None:
    path = tree / module
    path.write_text(path.read_text() + f"\n{planted}  # planted by the test\n")
    result = _lint(tree)
    assert result.returncode != 0
    assert broken in result.stdout and "BROKEN" in result.stdout, result.stdout[-3000:]
