"""Fleet figures from a run: delivery, vehicle-to-cloud latency, uplink bytes, recovery; JSON + PNG.

Latency is cloud receive time minus the vehicle's publish time of a decision (both hosts share
the machine's clock: namespaces, one kernel), first copy only. Decisions of the cut vehicle
published from 0.5 s before the cut until the cloud has caught up after the link returned cannot
arrive in steady state; they are left out of the latency figures (and counted) and measured by
`recovery_s` instead: the time from the link's return until the cloud holds every decision
published before it. Uplink bytes are IP bytes
that left the vehicle's link (TLS, TCP, zenoh framing, keep-alives and resends included); raw
sensor bytes are the CDR bytes of every sensor message of the vehicle's drive.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge_llm_ros.fleet.scenario import FleetRun

#: The issue's goals.
GOAL_DELIVERY = 1.0
GOAL_UPLINK_RATIO = 0.05
GOAL_P99_MARGIN_MS = 30.0
GOAL_RECOVERY_S = 2.0
CUT_MARGIN_NS = 500_000_000


def _pct(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else None


def analyse(run: FleetRun) -> dict[str, Any]:
    """Every figure of the run, per vehicle and overall, with the goals checked."""
    opts = run.options
    cut = run.cut
    by_vehicle: dict[str, list[dict[str, Any]]] = {}
    for record in run.records:
        if record["s"] == "decision":
            by_vehicle.setdefault(record["v"], []).append(record)
    vehicles: dict[str, Any] = {}
    steady: list[float] = []
    for name, summary in run.summaries.items():
        if "error" in summary:
            vehicles[name] = {"error": summary["error"]}
            continue
        published = {seq: pub_ns for seq, _stamp, _action, pub_ns in summary["decisions"]}
        received = {r["seq"]: r for r in by_vehicle.get(name, []) if r["seq"] in published}
        in_cut = set()
        if cut.get("vehicle") == name and "up_ns" in cut:
            # The cut lasts until the cloud has caught up: decisions published while the link was
            # coming back wait for it too, and are measured by recovery_s, not by the latency.
            up = cut["up_ns"]
            late = [r["recv_ns"] for s, r in received.items() if published[s] <= up and r["recv_ns"] > up]
            until = max([up, *late])
            in_cut = {s for s, p in published.items() if cut["down_ns"] - CUT_MARGIN_NS <= p <= until}
        latencies = [(r["recv_ns"] - published[s]) / 1e6 for s, r in received.items() if s not in in_cut]
        steady += latencies
        wan = run.wan.get(name, {})
        uplink = int(wan.get("tx_bytes", 0))
        raw = int(summary["raw_sensor_bytes"])
        entry: dict[str, Any] = {
            "frames": summary["frames"],
            "decisions_local": len(published),
            "decisions_delivered": len(received),
            "delivery_ratio": len(received) / len(published) if published else None,
            "duplicates_at_cloud": run.cloud.get("counts", {}).get(name, {}).get("decision_duplicates", 0),
            "latency_ms": {
                "p50": _pct(latencies, 50),
                "p99": _pct(latencies, 99),
                "max": max(latencies, default=None),
                "n": len(latencies),
                "left_out_cut": len(in_cut),
            },
            "uplink_bytes": uplink,
            "downlink_bytes": int(wan.get("rx_bytes", 0)),
            "raw_sensor_bytes": raw,
            "uplink_ratio": uplink / raw if raw else None,
            "uplink_payload_bytes": summary["uplink"].get("payload_bytes", {}),
            "uplink_counters": summary["uplink"].get("counters", {}),
            "buffer_max_depth": summary["uplink"]["buffers"]["decision"]["max_depth"],
            "buffer_overflowed": summary["uplink"]["buffers"]["decision"]["overflowed"],
            "camera_path": summary.get("camera_path", False),
            "cloud_samples": run.cloud.get("counts", {}).get(name, {}),
        }
        if in_cut:
            up = cut["up_ns"]
            before = [s for s, p in published.items() if p <= up]
            pending = [received[s]["recv_ns"] for s in before if s in received and received[s]["recv_ns"] > up]
            missing = [s for s in before if s not in received]
            entry["cut"] = {
                "down_s": (cut["down_ns"] - run.start_ns) / 1e9,
                "up_s": (up - run.start_ns) / 1e9,
                "decided_locally_during_cut": sum(1 for p in published.values() if cut["down_ns"] <= p <= up),
                "backlog_at_restore": len(pending) + len(missing),
                "recovery_s": None if missing else ((max(pending) - up) / 1e9 if pending else 0.0),
                "resent": summary["uplink"].get("counters", {}).get("decision_resent", 0),
            }
        vehicles[name] = entry
    ok = [v for v in vehicles.values() if "error" not in v]
    local = sum(v["decisions_local"] for v in ok)
    delivered = sum(v["decisions_delivered"] for v in ok)
    p99 = _pct(steady, 99)
    recoveries = [v["cut"]["recovery_s"] for v in ok if "cut" in v]
    worst_ratio = max((v["uplink_ratio"] for v in ok if v["uplink_ratio"] is not None), default=None)
    overall = {
        "decisions_local": local,
        "decisions_delivered": delivered,
        "delivery_ratio": delivered / local if local else None,
        "latency_ms": {"p50": _pct(steady, 50), "p99": p99, "max": max(steady, default=None), "n": len(steady)},
        "uplink_ratio_max": worst_ratio,
        "recovery_s": recoveries[0] if recoveries else None,
    }
    goals = {
        "delivery_100pct": overall["delivery_ratio"] == GOAL_DELIVERY and len(ok) == len(vehicles),
        "uplink_le_5pct": worst_ratio is not None and worst_ratio <= GOAL_UPLINK_RATIO,
        "p99_le_delay_plus_30ms": p99 is not None and p99 <= opts.delay_ms + GOAL_P99_MARGIN_MS,
        "recovery_le_2s": bool(recoveries) and all(r is not None and r <= GOAL_RECOVERY_S for r in recoveries),
    }
    return {
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(opts).items()},
        "tcp_tuning_applied": run.tuning,
        "overall": overall,
        "goals": goals,
        "vehicles": vehicles,
        "operator_requests": [
            {
                "vehicle": o["vehicle"],
                "op": o["op"],
                "ok": o.get("ok"),
                "replies": [{"ok": r.get("ok"), "bytes": r.get("bytes")} for r in o.get("replies", [])],
            }
            for o in run.operator
        ],
        "process_usage": run.usage,
        "drive_s": opts.drive_s,
        "wan": run.wan,
    }


def write_report(run: FleetRun, directory: Path) -> tuple[Path, Path, dict[str, Any]]:
    """fleet.json and fleet.png in `directory`; returns their paths and the figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    figures = analyse(run)
    json_path = directory / "fleet.json"
    json_path.write_text(json.dumps(figures, indent=1), encoding="utf-8")

    fig, (ax_lat, ax_bytes, ax_cut) = plt.subplots(1, 3, figsize=(16, 4.5))
    published_by = {
        n: {s: p for s, _st, _a, p in s_["decisions"]} for n, s_ in run.summaries.items() if "error" not in s_
    }
    for name, pubs in published_by.items():
        lat = sorted(
            (r["recv_ns"] - pubs[r["seq"]]) / 1e6
            for r in run.records
            if r["v"] == name and r["s"] == "decision" and r["seq"] in pubs
        )
        if lat:
            ax_lat.plot(lat, np.linspace(0, 1, len(lat)), label=name)
    ax_lat.axvline(run.options.delay_ms + GOAL_P99_MARGIN_MS, color="red", ls="--", label="goal p99")
    ax_lat.set_xscale("log")
    ax_lat.set_xlabel("vehicle-to-cloud decision latency (ms, all decisions incl. cut backlog)")
    ax_lat.set_ylabel("CDF")
    ax_lat.legend()
    names = [n for n, v in figures["vehicles"].items() if "error" not in v]
    x = np.arange(len(names))
    ax_bytes.bar(x - 0.2, [figures["vehicles"][n]["raw_sensor_bytes"] / 1e6 for n in names], 0.4, label="raw sensors")
    ax_bytes.bar(x + 0.2, [figures["vehicles"][n]["uplink_bytes"] / 1e6 for n in names], 0.4, label="uplink (IP)")
    ax_bytes.set_yscale("log")
    ax_bytes.set_xticks(x, names)
    ax_bytes.set_ylabel("MB per drive")
    ax_bytes.legend()
    cut = run.cut
    if cut.get("vehicle") in published_by:
        pubs = published_by[cut["vehicle"]]
        pts = [
            ((pubs[r["seq"]] - run.start_ns) / 1e9, (r["recv_ns"] - run.start_ns) / 1e9)
            for r in run.records
            if r["v"] == cut["vehicle"] and r["s"] == "decision" and r["seq"] in pubs
        ]
        if pts:
            ax_cut.scatter(*zip(*pts, strict=False), s=4)
        if "up_ns" in cut:
            ax_cut.axvspan(
                (cut["down_ns"] - run.start_ns) / 1e9,
                (cut["up_ns"] - run.start_ns) / 1e9,
                alpha=0.2,
                color="red",
                label="uplink cut",
            )
        ax_cut.set_xlabel(f"{cut['vehicle']}: decision published (s)")
        ax_cut.set_ylabel("received by the cloud (s)")
        ax_cut.legend()
    fig.suptitle(
        f"{len(names)} vehicles, {run.options.delay_ms:g} ms / {run.options.loss * 100:g} % loss: "
        f"delivery {figures['overall']['delivery_ratio']}, p99 {figures['overall']['latency_ms']['p99'] or 0:.1f} ms"
    )
    fig.tight_layout()
    png_path = directory / "fleet.png"
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return json_path, png_path, figures


def format_table(figures: dict[str, Any]) -> str:
    """A plain-text summary of the figures against the goals."""
    lines = [
        f"{'vehicle':<8} {'decided':>7} {'delivered':>9} {'p50 ms':>7} {'p99 ms':>7} {'uplink':>10} "
        f"{'raw':>12} {'ratio':>7}  cut"
    ]
    for name, v in figures["vehicles"].items():
        if "error" in v:
            lines.append(f"{name:<8} error: {v['error']}")
            continue
        lat = v["latency_ms"]
        cut = v.get("cut")
        cut_text = (
            (
                f"{cut['decided_locally_during_cut']} decided during cut, backlog {cut['backlog_at_restore']}, "
                f"recovery {cut['recovery_s']} s"
            )
            if cut
            else "-"
        )
        lines.append(
            f"{name:<8} {v['decisions_local']:>7} {v['decisions_delivered']:>9} {lat['p50'] or 0:>7.1f} "
            f"{lat['p99'] or 0:>7.1f} {v['uplink_bytes']:>10} {v['raw_sensor_bytes']:>12} "
            f"{(v['uplink_ratio'] or 0) * 100:>6.2f}%  {cut_text}"
        )
    o = figures["overall"]
    lines.append(
        f"overall: delivery {o['delivery_ratio']}, p50 {o['latency_ms']['p50']} ms, "
        f"p99 {o['latency_ms']['p99']} ms, worst uplink ratio {o['uplink_ratio_max']}, "
        f"recovery {o['recovery_s']} s"
    )
    lines.append("goals: " + ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in figures["goals"].items()))
    return "\n".join(lines)
