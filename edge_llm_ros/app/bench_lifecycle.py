"""`edge-llm-ros bench failover|swap`: kill cycles and hot-swaps against a paced replay over zenoh.

    edge-llm-ros bench failover --cycles 20 --report out/failover
    edge-llm-ros bench swap --swaps 6 --report out/swap

Both start the scene exactly as `edge-llm-ros run --transport zenoh` does (the manager and its
process supervisor here, each node instance its own process), play a recorded drive at its own
pace (looped with shifted stamps, so a run can be longer than the bag) and watch the pipeline's
outputs like any downstream user: every /edge_llm/detections and /edge_llm/decision message is
recorded with its (stamp, camera) and arrival time.

failover: every cycle waits until the node has a warm standby, then SIGKILLs (or SIGSTOPs) the
active instance's process group and records when the manager detected it, when the standby was
active, and the gap in the node's output stream (last output before the signal to the first
after it). swap: alternates the node between two model ids through the manager's swap service.
Both count frames without detections / decisions ("dropped") and (stamp, camera) keys seen more
than once ("duplicates"), and write one JSON report.

Without --model-store the user's model store is used, with the sample ROI classifier's INT8 and
FP32 versions (`edge-llm-ros models prepare`); without --bag a 20 s traffic drive is synthesised
into the report directory. The command line is cli/bench_lifecycle.py.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

from edge_llm_ros.app.looping_player import LoopingPlayer
from edge_llm_ros.app.output_probe import OUTPUT_TOPIC, SCENE_TOPIC, OutputLog, OutputProbe
from edge_llm_ros.telemetry.latency_stats import percentiles

_log = logging.getLogger(__name__)

#: Models of `bench swap|failover` without --models (alternated by swaps).
DEFAULT_MODELS = ("roi_classifier@1.0.0-int8", "roi_classifier@1.0.0-fp32")


# ====================================================================== helpers
def _prepare_inputs(args: argparse.Namespace, report: Path) -> tuple[Path, Path | None, list[str]]:
    """The bag, the model store and the model ids to use (building the defaults when not given)."""
    bag = Path(args.bag) if args.bag else report / "bag"
    if not args.bag and not bag.exists():
        from edge_llm_ros.scenes import synthesize

        print(f"synthesising a {args.bag_duration:g} s traffic drive into {bag} ...", flush=True)
        synthesize(bag, scene="traffic", duration_s=args.bag_duration, seed=0)
    from edge_llm_ros.models.store import ModelStore

    # The sample models `edge-llm-ros models prepare` builds; the README's figures use these two.
    models: list[str] = list(args.models or DEFAULT_MODELS)
    store = Path(args.model_store) if args.model_store else ModelStore().root
    return bag, store, models


def _session(args: argparse.Namespace, report: Path, store: Path | None, models: list[str], kind: str) -> Any:
    import random

    from edge_llm_ros.app.run_session import RunOptions, RunSession

    node_params: dict[str, dict[str, Any]] = {"roi_preprocess": {"person_detector.enabled": bool(args.person_detector)}}
    manager_params: dict[str, Any] = {
        "node_heartbeat_period_s": args.heartbeat_period,
        "heartbeat_timeout_s": args.heartbeat_timeout,
        "respawn_backoff_s": 0.2,
    }
    if store is not None:
        manager_params["model_store"] = str(store.resolve())
        for k in ("vision_inference", "roi_preprocess"):
            node_params.setdefault(k, {})["model_store"] = str(store.resolve())
    if models:
        name, _, version = models[0].partition("@")
        node_params.setdefault("vision_inference", {}).update(model=name, model_version=version)
    zenoh = {"hub": f"tcp/127.0.0.1:{_free_port()}", "domain_id": random.randint(100, 232)}
    options = RunOptions(
        config=Path(args.config),
        transport="zenoh",
        standbys={kind: args.standbys},
        manager_params=manager_params,
        node_params=node_params,
        zenoh=zenoh,
        run_dir=report / "run",
    )
    return RunSession(options)


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _standby_ready(session: Any, kind: str) -> bool:
    from edge_llm_ros.manager.roles import Role
    from edge_llm_ros.runtime.lifecycle import State

    group = session.manager.group(kind)
    ready = [i for i in group.with_role(Role.STANDBY) if i.state is State.INACTIVE and i.last_beat is not None]
    return group.active is not None and len(ready) >= 1


def _wait(predicate: Any, timeout_s: float, poll_s: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll_s)
    return bool(predicate())


def _frame_accounting(player: LoopingPlayer, probe: OutputProbe, start_ns: int, end_ns: int) -> dict[str, Any]:
    """Frames published in [start_ns, end_ns) and how many got detections / a decision."""
    frames = {(stamp, cam) for stamp, cam, sent in player.frames if start_ns <= sent < end_ns}
    detections = probe.logs["/edge_llm/detections"].keys()
    decisions = probe.logs["/edge_llm/decision"].keys()
    scenes = probe.logs[SCENE_TOPIC].keys()
    with_det = sum(1 for f in frames if detections.get(f))
    with_dec = sum(1 for f in frames if decisions.get(f))
    sent = {(stamp, cam): at for stamp, cam, at in player.frames}
    return {
        "missing_decisions_sent_ns": sorted(sent[f] for f in frames if not decisions.get(f)),
        "published": len(frames),
        "with_detections": with_det,
        "with_decision": with_dec,
        "dropped_detections": len(frames) - with_det,
        "dropped_decisions": len(frames) - with_dec,
        # Frames that never made it out of sensor fusion (upstream of every failover/swap here).
        "without_fused_scene": sum(1 for f in frames if not scenes.get(f)),
        "dropped_decisions_with_scene": sum(1 for f in frames if scenes.get(f) and not decisions.get(f)),
    }


def _near(frames: dict[str, Any], kills: list[int], failovers: list[int], loops: list[int]) -> list[dict[str, Any]]:
    """Per frame without a decision: ms from the nearest kill, failover detection and loop restart.

    Tells losses at a takeover from other causes.
    """

    def nearest(at: int, marks: list[int]) -> float | None:
        return round(min((at - m for m in marks), key=abs) / 1e6, 1) if marks else None

    return [
        {"kill_ms": nearest(at, kills), "failover_ms": nearest(at, failovers), "loop_ms": nearest(at, loops)}
        for at in frames["missing_decisions_sent_ns"]
    ]


def _gap_ms(log: OutputLog, at_ns: int) -> float | None:
    """Output-stream gap around `at_ns`: first arrival after it minus the last one before it."""
    before = [recv for recv, _s, _c in log.arrivals if recv <= at_ns]
    after = [recv for recv, _s, _c in log.arrivals if recv > at_ns]
    if not before or not after:
        return None
    return (min(after) - max(before)) / 1e6


def _write(report: Path, name: str, data: dict[str, Any]) -> Path:
    report.mkdir(parents=True, exist_ok=True)
    path = report / f"{name}.json"
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


# ====================================================================== failover
def bench_failover(args: argparse.Namespace) -> int:
    """Kill (or stop) the active instance `--cycles` times during a paced replay; report the gaps."""
    report = Path(args.report)
    report.mkdir(parents=True, exist_ok=True)
    kind = args.node
    bag, store, models = _prepare_inputs(args, report)
    signals = {"kill": [signal.SIGKILL], "stop": [signal.SIGSTOP], "both": [signal.SIGKILL, signal.SIGSTOP]}[
        args.signal
    ]
    session = _session(args, report, store, models, kind)
    cycles: list[dict[str, Any]] = []
    player: LoopingPlayer | None = None
    t_start = time.monotonic()
    try:
        print("starting the scene (one process per node instance) ...", flush=True)
        session.start()
        bench_node = session.bus.create_node("bench_lifecycle")
        probe = OutputProbe(bench_node)
        output = probe.logs[OUTPUT_TOPIC[kind]]
        player = LoopingPlayer(bench_node, bag, args.rate).start()
        if not _wait(lambda: len(output.arrivals) >= 5, 60.0):
            raise RuntimeError(f"no output on {OUTPUT_TOPIC[kind]} within 60 s (see {session.run_dir}/logs)")
        measure_from = time.time_ns()
        for cycle in range(args.cycles):
            if not _wait(lambda: _standby_ready(session, kind), args.standby_timeout):
                print(f"cycle {cycle}: no warm standby within {args.standby_timeout} s; stopping", flush=True)
                break
            time.sleep(args.settle)
            if not _wait(lambda: _standby_ready(session, kind), args.standby_timeout):
                continue  # an unplanned failover during the settle time: the next cycle waits again
            sig = signals[cycle % len(signals)]
            victim = session.manager.active_name(kind)
            seen = len(session.manager.events("failover"))
            kill_ns = time.time_ns()
            try:
                pid = session.kill(victim, sig)
            except KeyError:  # it failed on its own a moment ago
                cycles.append({"cycle": cycle, "signal": sig.name, "victim": victim, "detected": False})
                continue
            if not _wait(lambda seen=seen: len(session.manager.events("failover")) > seen, 10.0, 0.002):
                print(f"cycle {cycle}: failover not detected within 10 s", flush=True)
                cycles.append({"cycle": cycle, "signal": sig.name, "victim": victim, "detected": False})
                continue
            event = next(
                (e for e in session.manager.events("failover")[seen:] if e["instance"] == victim),
                session.manager.events("failover")[seen],
            )
            # Let outputs resume before measuring the gap.
            _wait(lambda kill_ns=kill_ns: any(r > kill_ns for r, _s, _c in output.arrivals), 5.0)
            row = {
                "cycle": cycle,
                "kill_ns": kill_ns,
                "signal": sig.name,
                "victim": victim,
                "pid": pid,
                "took_over": event.get("activated"),
                "reason": event.get("reason"),
                "detection_ms": round((event["detected_ns"] - kill_ns) / 1e6, 3),
                "activation_ms": round((event["activated_ns"] - kill_ns) / 1e6, 3)
                if event.get("activated_ns")
                else None,
                "gap_ms": _gap_ms(output, kill_ns),
            }
            cycles.append(row)
            print(
                f"cycle {cycle:2d} {sig.name:7s} {victim:>20s} -> {event.get('activated')}: detected "
                f"{row['detection_ms']:.1f} ms ({event.get('reason')}), active {row['activation_ms']} ms, "
                f"output gap {row['gap_ms']}",
                flush=True,
            )
        time.sleep(1.0)
        measure_to = time.time_ns() - 500_000_000  # the last frames are still in the pipeline
        player.stop()
        time.sleep(0.5)
        respawns = [e.get("respawn_s") for e in session.manager.events("failover") if e.get("respawn_s")]
        frames = _frame_accounting(player, probe, measure_from, measure_to)
        beat_gaps = {i["name"]: i["max_heartbeat_gap_ms"] for g in session.status()["nodes"] for i in g["instances"]}
        ok = [c for c in cycles if c.get("detection_ms") is not None]
        reasons = Counter(str(c["reason"]).split(" (")[0].split(" for ")[0] for c in ok)
        period_ms = 1e3 / (10.0 * args.rate)  # the sample drives have 10 Hz cameras
        result = {
            "bench": "failover",
            "node": kind,
            "transport": "zenoh",
            "signal": args.signal,
            "cycles_requested": args.cycles,
            "cycles_completed": len(ok),
            "standbys": args.standbys,
            "heartbeat_period_ms": args.heartbeat_period * 1e3,
            "heartbeat_timeout_ms": args.heartbeat_timeout * 1e3,
            "frame_period_ms": period_ms,
            "failover_gap_ms": percentiles([c["gap_ms"] for c in ok if c["gap_ms"] is not None]),
            "failover_gap_beyond_frame_period_ms": percentiles(
                [max(0.0, c["gap_ms"] - period_ms) for c in ok if c["gap_ms"] is not None]
            ),
            "detection_ms": percentiles([c["detection_ms"] for c in ok]),
            "detection_ms_by_signal": {
                s.name: percentiles([c["detection_ms"] for c in ok if c["signal"] == s.name]) for s in signals
            },
            "activation_ms": percentiles([c["activation_ms"] for c in ok if c["activation_ms"] is not None]),
            "respawn_s": percentiles(respawns),
            "detected_by": dict(reasons),
            # Failovers the bench did not cause (a node declared dead on its own: a false alarm
            # under load, or a real crash); each one is also a takeover downstream saw.
            "unplanned_failovers": len(session.manager.events("failover")) - len(ok),
            "frames": frames,
            "missing_decisions_near": _near(
                frames,
                [c["kill_ns"] for c in cycles if "kill_ns" in c],
                [e["detected_ns"] for e in session.manager.events("failover")],
                player.loop_starts_ns,
            ),
            "duplicates": {
                "detections": probe.logs["/edge_llm/detections"].duplicates(measure_from),
                "decisions": probe.logs["/edge_llm/decision"].duplicates(measure_from),
            },
            "max_heartbeat_gap_ms": beat_gaps,
            "player_loops": player.loops,
            "wall_s": round(time.monotonic() - t_start, 1),
            "models": models,
            "bag": str(bag),
            "per_cycle": cycles,
        }
        if player.error is not None:
            result["player_error"] = repr(player.error)
    finally:
        if player is not None:
            player.stop()
        session.close()
    path = _write(report, "failover", result)
    print(json.dumps({k: v for k, v in result.items() if k != "per_cycle"}, indent=1))
    print(f"report: {path}")
    return 0 if result["cycles_completed"] >= min(args.cycles, 1) else 1


# ====================================================================== swap
def bench_swap(args: argparse.Namespace) -> int:
    """Alternate the node's model `--swaps` times during a paced replay; report times, drops, duplicates."""
    from edge_llm_ros.nodes.manager_client import call_swap

    report = Path(args.report)
    report.mkdir(parents=True, exist_ok=True)
    kind = args.node
    bag, store, models = _prepare_inputs(args, report)
    if len(models) < 2:
        raise SystemExit("bench swap needs two model ids (--models A B)")
    session = _session(args, report, store, models, kind)
    swaps: list[dict[str, Any]] = []
    player: LoopingPlayer | None = None
    t_start = time.monotonic()
    try:
        print("starting the scene (one process per node instance) ...", flush=True)
        session.start()
        bench_node = session.bus.create_node("bench_lifecycle")
        probe = OutputProbe(bench_node)
        output = probe.logs[OUTPUT_TOPIC[kind]]
        player = LoopingPlayer(bench_node, bag, args.rate).start()
        if not _wait(lambda: len(output.arrivals) >= 5, 60.0):
            raise RuntimeError(f"no output on {OUTPUT_TOPIC[kind]} within 60 s (see {session.run_dir}/logs)")
        measure_from = time.time_ns()
        for i in range(args.swaps):
            if not _wait(lambda: _standby_ready(session, kind), args.standby_timeout):
                print(f"swap {i}: no warm standby within {args.standby_timeout} s; stopping", flush=True)
                break
            time.sleep(args.settle)
            target = models[(i + 1) % len(models)]
            requested_ns = time.time_ns()
            result = call_swap(bench_node, "/lifecycle_manager", kind, target, 300.0)
            record: dict[str, Any] = next(
                (e for e in reversed(session.manager.events("swap")) if e["model"] == target), {}
            )
            switched = record.get("switched_ns")
            row = {
                "swap": i,
                "to": target,
                "outcome": result.get("outcome"),
                "reason": result.get("reason"),
                "timings_ms": result.get("timings_ms"),
                "gap_ms": _gap_ms(output, switched) if switched else None,
                "requested_ns": requested_ns,
            }
            swaps.append(row)
            print(
                f"swap {i}: -> {target}: {row['outcome']} {row['reason'] or ''} timings {row['timings_ms']} "
                f"output gap {row['gap_ms']}",
                flush=True,
            )
        time.sleep(1.0)
        measure_to = time.time_ns() - 500_000_000
        player.stop()
        time.sleep(0.5)
        done = [s for s in swaps if s["outcome"] == "committed"]

        def timing(key: str) -> dict[str, float | None]:
            return percentiles([s["timings_ms"][key] for s in done if key in (s["timings_ms"] or {})])

        result_doc = {
            "bench": "swap",
            "node": kind,
            "transport": "zenoh",
            "swaps_requested": args.swaps,
            "swaps_committed": len(done),
            "models": models,
            "swap_total_ms": timing("total"),
            "validate_ms": timing("validate"),
            "load_ms": timing("load"),
            "switch_ms": timing("switch"),
            "first_output_after_switch_ms": timing("serve"),
            "standby_refresh_ms": timing("standbys"),
            "output_gap_at_switch_ms": percentiles([s["gap_ms"] for s in done if s["gap_ms"] is not None]),
            "frames": _frame_accounting(player, probe, measure_from, measure_to),
            "duplicates": {
                "detections": probe.logs["/edge_llm/detections"].duplicates(measure_from),
                "decisions": probe.logs["/edge_llm/decision"].duplicates(measure_from),
            },
            "wall_s": round(time.monotonic() - t_start, 1),
            "bag": str(bag),
            "per_swap": swaps,
        }
        if player.error is not None:
            result_doc["player_error"] = repr(player.error)
    finally:
        if player is not None:
            player.stop()
        session.close()
    path = _write(report, "swap", result_doc)
    print(json.dumps({k: v for k, v in result_doc.items() if k != "per_swap"}, indent=1))
    print(f"report: {path}")
    return 0 if result_doc["swaps_committed"] == len(swaps) and swaps else 1
