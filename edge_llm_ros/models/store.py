"""The model store: `<root>/<name>/<version>/{manifest.json, model.onnx, ...}`.

The root is, in order: the `root` argument, $EDGE_LLM_ROS_MODEL_STORE, ~/.cache/edge_llm_ros/models.
A model is resolved by name to its pinned version (`<root>/<name>/PINNED` holds one version) or
else its highest version. New versions are written into a staging directory under the root and
renamed into place after their hashes check out, so a reader never sees half a model.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edge_llm_ros.models.errors import ManifestError, ModelError, ModelNotFoundError
from edge_llm_ros.models.golden import GoldenSet
from edge_llm_ros.models.hashing import verify_sha256
from edge_llm_ros.models.manifest import MANIFEST_FILE, Manifest
from edge_llm_ros.models.prepare_hints import prepare_commands

ENV_STORE = "EDGE_LLM_ROS_MODEL_STORE"
DEFAULT_STORE = Path("~/.cache/edge_llm_ros/models")
PIN_FILE = "PINNED"
_STAGING_PREFIX = ".staging-"
_NUMERIC_RE = re.compile(r"^(\d+(?:\.\d+)*)(.*)$")


def default_store_root() -> Path:
    """$EDGE_LLM_ROS_MODEL_STORE if set, else ~/.cache/edge_llm_ros/models."""
    env = os.environ.get(ENV_STORE)
    return Path(env).expanduser() if env else DEFAULT_STORE.expanduser()


def version_key(version: str) -> tuple[int, tuple[int, ...], str]:
    """Sort key: dotted numeric versions by number ("1.10.0" > "1.9.0"), then the suffix as text.

    Versions without a leading number sort below all numeric ones.
    """
    match = _NUMERIC_RE.match(version)
    if match is None:
        return (0, (), version)
    numbers = tuple(int(p) for p in match.group(1).split("."))
    return (1, numbers, match.group(2))


def parse_model_id(model_id: str) -> tuple[str, str | None]:
    """`name@version` -> (name, version); `name` -> (name, None)."""
    name, sep, version = model_id.partition("@")
    if not name or (sep and not version):
        raise ModelNotFoundError(f"{model_id!r} is not a model id (expected NAME or NAME@VERSION)")
    return name, (version or None)


@dataclass(frozen=True)
class ModelRef:
    """One resolved model version: its manifest and the directory that holds its files."""

    manifest: Manifest
    directory: Path

    @property
    def name(self) -> str:
        """Model name."""
        return self.manifest.name

    @property
    def version(self) -> str:
        """Model version."""
        return self.manifest.version

    @property
    def model_id(self) -> str:
        """`name@version`."""
        return self.manifest.model_id

    @property
    def model_path(self) -> Path:
        """Path of the ONNX model file."""
        return self.path(self.manifest.model_file)

    def path(self, relative: str) -> Path:
        """Absolute path of a file listed in the manifest."""
        self.manifest.file(relative)
        return self.directory / relative

    def verify(self) -> None:
        """Check that every listed file exists and matches its sha256; raises ModelError otherwise."""
        for entry in self.manifest.files:
            path = self.directory / entry.path
            if not path.is_file():
                raise ModelError(f"{self.model_id}: file {entry.path} listed in the manifest is missing ({path})")
            verify_sha256(path, entry.sha256)

    def load_golden(self) -> GoldenSet | None:
        """The golden set (sha256 checked first), or None when the manifest lists none."""
        if self.manifest.golden is None:
            return None
        entry = self.manifest.file(self.manifest.golden.file)
        path = self.directory / entry.path
        verify_sha256(path, entry.sha256)
        return GoldenSet.load(path)


@dataclass(frozen=True)
class StoreEntry:
    """A version directory found in the store: its ref, or why its manifest could not be read."""

    name: str
    version: str
    directory: Path
    ref: ModelRef | None
    error: str | None


class ModelStore:
    """A directory of model versions with manifests."""

    def __init__(self, root: Path | str | None = None) -> None:
        """Use `root`, else $EDGE_LLM_ROS_MODEL_STORE, else ~/.cache/edge_llm_ros/models (created lazily)."""
        self.root = Path(root).expanduser() if root is not None else default_store_root()

    def __repr__(self) -> str:
        """Show the root."""
        return f"ModelStore({str(self.root)!r})"

    def names(self) -> list[str]:
        """Model names with at least one version directory, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".") and self.versions(p.name)
        )

    def versions(self, name: str) -> list[str]:
        """Versions of `name` that have a manifest, lowest first (see version_key)."""
        directory = self.root / name
        if not directory.is_dir():
            return []
        found = [p.name for p in directory.iterdir() if p.is_dir() and (p / MANIFEST_FILE).is_file()]
        return sorted(found, key=version_key)

    def pinned(self, name: str) -> str | None:
        """The pinned version of `name`, if any."""
        pin = self.root / name / PIN_FILE
        if not pin.is_file():
            return None
        return pin.read_text(encoding="utf-8").strip() or None

    def pin(self, name: str, version: str) -> None:
        """Make `version` what `resolve(name)` returns; the version must exist."""
        if version not in self.versions(name):
            raise ModelNotFoundError(self._missing(name, version))
        (self.root / name / PIN_FILE).write_text(version + "\n", encoding="utf-8")

    def unpin(self, name: str) -> None:
        """Drop the pin; `resolve(name)` returns the highest version again."""
        (self.root / name / PIN_FILE).unlink(missing_ok=True)

    def resolve(self, name: str, version: str | None = None) -> ModelRef:
        """Find a model: `name` (or `name@version`), pinned version, else the highest one.

        The manifest is parsed and checked; file hashes are not (see `verify` / the engine).
        """
        base, from_id = parse_model_id(name)
        wanted = version or from_id
        if wanted in (None, "latest"):
            available = self.versions(base)
            if not available:
                raise ModelNotFoundError(self._missing(base, None))
            pinned = self.pinned(base)
            if pinned is not None and pinned not in available:
                raise ModelNotFoundError(f"{base}: pinned version {pinned!r} is not in the store ({self.root})")
            wanted = pinned or available[-1]
        directory = self.root / base / wanted
        if not (directory / MANIFEST_FILE).is_file():
            raise ModelNotFoundError(self._missing(base, wanted))
        manifest = Manifest.load(directory / MANIFEST_FILE)
        if manifest.name != base or manifest.version != wanted:
            raise ManifestError(
                f"{directory / MANIFEST_FILE}: says {manifest.model_id} but lives in {base}/{wanted}"
            )
        return ModelRef(manifest=manifest, directory=directory)

    def verify(self, name: str, version: str | None = None) -> ModelRef:
        """Resolve and check every file's sha256; raises ModelError (Sha256MismatchError) on a mismatch."""
        ref = self.resolve(name, version)
        ref.verify()
        return ref

    def entries(self) -> list[StoreEntry]:
        """Every version directory in the store, readable or not (for listing and diagnosis)."""
        out: list[StoreEntry] = []
        for name in self.names():
            for version in self.versions(name):
                directory = self.root / name / version
                try:
                    out.append(StoreEntry(name, version, directory, self.resolve(name, version), None))
                except ModelError as exc:
                    out.append(StoreEntry(name, version, directory, None, str(exc)))
        return out

    def staging_dir(self) -> Path:
        """A fresh empty directory under the root, on the same filesystem, for building a version."""
        self.root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=self.root))

    def commit(self, staging: Path, *, overwrite: bool = False) -> ModelRef:
        """Move a staged version (manifest + files, hashes checked) into `<name>/<version>` atomically."""
        staging = Path(staging)
        manifest = Manifest.load(staging / MANIFEST_FILE)
        ModelRef(manifest, staging).verify()
        target = self.root / manifest.name / manifest.version
        target.parent.mkdir(parents=True, exist_ok=True)
        old: Path | None = None
        if target.exists():
            if not overwrite:
                shutil.rmtree(staging, ignore_errors=True)
                raise ModelError(f"{manifest.model_id} is already in the store ({target}); pass overwrite=True")
            old = target.with_name(f"{_STAGING_PREFIX}old-{manifest.version}-{os.getpid()}")
            target.rename(old)
        staging.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return ModelRef(manifest, target)

    def add(self, source: Path, *, overwrite: bool = False) -> ModelRef:
        """Copy a model directory (its manifest and the files it lists) into the store."""
        source = Path(source)
        manifest = Manifest.load(source / MANIFEST_FILE)
        ModelRef(manifest, source).verify()
        staging = self.staging_dir()
        try:
            for entry in manifest.files:
                dst = staging / entry.path
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / entry.path, dst)
            shutil.copyfile(source / MANIFEST_FILE, staging / MANIFEST_FILE)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return self.commit(staging, overwrite=overwrite)

    def remove(self, name: str, version: str) -> None:
        """Delete one version (and its pin if it was pinned)."""
        directory = self.root / name / version
        if not directory.is_dir():
            raise ModelNotFoundError(self._missing(name, version))
        if self.pinned(name) == version:
            self.unpin(name)
        shutil.rmtree(directory)

    def _missing(self, name: str, version: str | None) -> str:
        available = self.versions(name)
        what = f"{name}@{version}" if version else name
        if available:
            return f"model {what} is not in the store {self.root}; versions there: {', '.join(available)}"
        store_option = f" --store {self.root}" if self.root != default_store_root() else ""
        commands = " && ".join(prepare_commands(name, store_option))
        return f"model {what} is not in the store {self.root}; run `{commands}` first"
