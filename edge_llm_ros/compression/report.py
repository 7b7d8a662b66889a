"""Tables and charts of model variants: what every `optimize` command ends with.

`rows(reports)` turns check reports into flat dicts (the JSON of `bench optimize`), `table(...)`
formats them for a terminal, and `chart(...)` draws size / accuracy+agreement / latency side by
side (matplotlib, Agg backend: no display needed).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge_llm_ros.compression.check import CheckReport

# Display names of the methods recorded in manifests (publish.variant_method).
METHOD_NAMES = {
    "prepared": "as prepared",
    "quantize-static": "INT8 static",
    "quantize-dynamic": "INT8 dynamic",
    "prune": "pruned",
    "distill": "student",
    "fp16": "FP16",
}


def row(report: CheckReport, baseline: bool = False) -> dict[str, Any]:
    """One variant as a flat dict: sizes, agreement, accuracy, ms per crop and speed-up per batch size."""
    cand = report.candidate
    out: dict[str, Any] = {
        "model_id": cand.model_id,
        "method": "baseline" if baseline else cand.method,
        "size_mb": cand.size_bytes / 1e6,
        "size_ratio": report.size_ratio,
        "agreement": cand.class_agreement,
        "top1_agreement": cand.top1_agreement,
        "accuracy": cand.accuracy,
        "accuracy_drop": report.accuracy_drop,
        "heldout_crops": cand.crops,
        "golden_agreement": None if report.golden is None else report.golden.agreement,
        "max_drop": report.max_drop,
        "passed": report.passed,
        "failures": list(report.failures),
    }
    for batch, ms in sorted(cand.ms_per_crop.items()):
        out[f"ms_per_crop_b{batch}"] = ms
        out[f"speedup_b{batch}"] = report.speedup(batch)
    return out


def baseline_report(report: CheckReport) -> CheckReport:
    """The baseline measured against itself (agreement 1, speed-up 1), for the first row of a table."""
    return CheckReport(candidate=report.baseline, baseline=report.baseline, max_drop=report.max_drop, golden=None,
                       failures=())


def _fmt(value: Any, spec: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "PASS" if value else "FAIL"
    return format(value, spec)


def table(rows_: Sequence[dict[str, Any]]) -> str:
    """A fixed-width text table of variant rows (see `row`)."""
    batches = sorted({int(k.removeprefix("ms_per_crop_b")) for r in rows_ for k in r if k.startswith("ms_per_crop_b")})
    headers = ["variant", "method", "MB", "size", "agree", "top1", "acc", "d.acc"]
    headers += [f"ms b{b}" for b in batches] + [f"x b{b}" for b in batches] + ["gate"]
    lines: list[list[str]] = []
    for r in rows_:
        line = [
            str(r["model_id"]).split("@", 1)[-1],
            METHOD_NAMES.get(str(r["method"]), str(r["method"])),
            _fmt(r["size_mb"], ".2f"),
            _fmt(r["size_ratio"], ".0%"),
            _fmt(r["agreement"], ".1%"),
            _fmt(r["top1_agreement"], ".1%"),
            _fmt(r["accuracy"], ".1%"),
            _fmt(None if r["method"] == "baseline" else -100 * r["accuracy_drop"], "+.1f"),
        ]
        line += [_fmt(r.get(f"ms_per_crop_b{b}"), ".2f") for b in batches]
        line += [_fmt(r.get(f"speedup_b{b}"), ".2f") for b in batches]
        line.append("-" if r["method"] == "baseline" else _fmt(bool(r["passed"]), ""))
        lines.append(line)
    widths = [max(len(h), *(len(x[i]) for x in lines)) if lines else len(h) for i, h in enumerate(headers)]

    def fmt_line(cells: Sequence[str]) -> str:
        # Names left-aligned, numbers right-aligned.
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in pairs)

    return "\n".join([fmt_line(headers), "  ".join("-" * w for w in widths), *(fmt_line(x) for x in lines)])


LEGEND = (
    "agree = agreement with the baseline on the class the pipeline acts on; top1 = raw top-1 agreement "
    "(same label space only); acc = accuracy vs ground truth; d.acc = accuracy change in points; "
    "x = speed-up vs the baseline; gate = optimize check verdict"
)


def chart(rows_: Sequence[dict[str, Any]], path: Path, title: str) -> Path:
    """Size, accuracy/agreement and ms per crop of every variant, as three bar panels in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [f"{str(r['model_id']).split('@', 1)[-1]}" for r in rows_]
    colors = ["#7f7f7f" if r["method"] == "baseline" else "#2ca02c" if r["passed"] else "#d62728" for r in rows_]
    batches = sorted({int(k.removeprefix("ms_per_crop_b")) for r in rows_ for k in r if k.startswith("ms_per_crop_b")})
    y = list(range(len(rows_)))
    fig, axes = plt.subplots(1, 3, figsize=(15, 0.55 * len(rows_) + 2.2), sharey=True)
    ax = axes[0]
    sizes = [r["size_mb"] for r in rows_]
    ax.barh(y, sizes, color=colors)
    for i, r in enumerate(rows_):
        ax.text(sizes[i], i, f" {sizes[i]:.1f} MB ({r['size_ratio']:.0%})", va="center", fontsize=8)
    ax.set_xlabel("model size (MB)")
    ax.set_xlim(0, max(sizes) * 1.5)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax = axes[1]
    height = 0.38
    agree = [100 * r["agreement"] for r in rows_]
    acc = [100 * r["accuracy"] for r in rows_]
    ax.barh([i - height / 2 for i in y], agree, height, color=colors, label="agreement with baseline")
    ax.barh([i + height / 2 for i in y], acc, height, color="#1f77b4", label="accuracy vs ground truth")
    for i in y:
        ax.text(agree[i], i - height / 2, f" {agree[i]:.1f}", va="center", fontsize=7)
        ax.text(acc[i], i + height / 2, f" {acc[i]:.1f}", va="center", fontsize=7)
    ax.set_xlim(0, 112)
    ax.set_xlabel("% of held-out crops (pipeline classes)")
    ax.legend(loc="lower right", fontsize=7)
    ax = axes[2]
    height = 0.8 / max(1, len(batches))
    palette = ["#9467bd", "#ff7f0e", "#8c564b", "#17becf"]
    values = [v for r in rows_ for b in batches if (v := r.get(f"ms_per_crop_b{b}"))]
    low, top = (min(values), max(values)) if values else (1.0, 1.0)
    # One slow variant (e.g. dynamic INT8's ConvInteger path) would squash every other bar: use a
    # log axis when latencies span more than 20x.
    log = top / low > 20
    left = low / 2 if log else 0.0
    for j, b in enumerate(batches):
        ms = [r.get(f"ms_per_crop_b{b}") or 0.0 for r in rows_]
        pos = [i - 0.4 + height * (j + 0.5) for i in y]
        ax.barh(pos, [m - left for m in ms], height, left=left, color=palette[j % len(palette)], label=f"batch {b}")
        for i, r in enumerate(rows_):
            speed = r.get(f"speedup_b{b}")
            label = f" {ms[i]:.2f}" + (f" ({speed:.2f}x)" if speed and r["method"] != "baseline" else "")
            ax.text(ms[i], pos[i], label, va="center", fontsize=7)
    if log:
        ax.set_xscale("log")
        ax.set_xlim(left, top * 8)
    else:
        ax.set_xlim(0, top * 1.45 if top else 1)
    ax.set_xlabel("ms per crop (lower is faster" + (", log scale)" if log else ")"))
    ax.legend(loc="lower right", fontsize=7)
    fig.suptitle(f"{title}   (grey: baseline, green: passes the gate, red: fails it)", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
