"""The ament_python lint tests in their ruff form (flake8 + pep257; no copyright headers adopted).

ament's templates run ament_flake8, ament_pep257 and ament_copyright. Here ruff does the first
two with the project's pyproject settings (pycodestyle, pyflakes, isort, bugbear, naming and the
pydocstyle D2/D3/D4 rules): one fast process over the whole repository, including launch/.
The package has no licence headers (package.xml and setup.py carry the licence), so there is no
copyright check.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: ament_pep257's checks, minus what pyproject deliberately ignores (D203/D213 conflict with
#: D211/D212, D401/D413 are style choices) and the missing-docstring family D1 that ament
#: ignores too.
PEP257 = ["--select", "D2,D3,D4", "--ignore", "D203,D213,D401,D413"]


def ruff() -> list[str]:
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    if (exe := shutil.which("ruff")) is not None:
        return [exe]
    pytest.skip("ruff is not installed (pip install -e '.[dev]')")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ruff(), "check", "--no-cache", *args], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )


def test_ruff_flake8() -> None:
    result = run(".")
    assert result.returncode == 0, f"ruff check found problems:\n{result.stdout}{result.stderr}"


def test_ruff_pep257() -> None:
    result = run(*PEP257, "edge_llm_ros", "launch", "setup.py")
    assert result.returncode == 0, f"docstring problems:\n{result.stdout}{result.stderr}"


def test_import_layers_hold() -> None:
    """import-linter's contracts (pyproject.toml: layers, no cycles), with no exceptions listed."""
    if importlib.util.find_spec("importlinter") is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    result = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, f"import contracts broken:\n{result.stdout}{result.stderr}"



def test_no_module_over_500_lines() -> None:
    """A module that outgrows 500 lines is doing several jobs: split it by job."""
    long = {
        str(path.relative_to(REPO)): n
        for path in (REPO / "edge_llm_ros").rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 500
    }
    assert not long, f"modules over 500 lines: {long}"
