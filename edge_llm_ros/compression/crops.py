"""Crop datasets from recorded drives: the ground-truth boxes of a bag, cut like the pipeline cuts ROIs.

Every optimisation step (INT8 calibration, fine-tuning after pruning, distillation, the accuracy
check) works on the crops the classifier really sees on the road, never on random tensors:

- a crop is the ground-truth box (`/ground_truth/scene`, `objects[].bbox_xyxy`) of a camera frame,
  grown by the ROI node's margin and clipped to the image (`roi.boxes.expand_and_clip`), and
  skipped when it is smaller than the ROI node's `min_size_px` (the pipeline drops those too);
- its label is the ground-truth class mapped to the classifier's classes (`animal` -> `other`);
- crops are kept as raw RGB uint8 and turned into model input by the manifest's own Preprocessor
  (letterbox, normalisation, layout), so a student with another input size gets the same crops.

Consecutive frames show the same object, so a random per-crop split would leak near-duplicates
into the held-out set. Splits therefore keep every object (bag + radar track id) on one side:
`split(..., by="track")` draws whole objects with a seed, `by="bag"` holds out whole bags.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge_llm_ros.bags.errors import BagError
from edge_llm_ros.bags.reader import BagReader
from edge_llm_ros.inference.preprocess import Preprocessor
from edge_llm_ros.models.labels import ROI_CLASSES
from edge_llm_ros.models.manifest import PreprocessSpec
from edge_llm_ros.roi.boxes import expand_and_clip

IMAGE_TOPIC = "/camera/image_raw"
GROUND_TRUTH_TOPIC = "/ground_truth/scene"
#: Ground-truth classes of the sample drives -> the classifier's classes (ROI_CLASSES).
GT_TO_CLASS: dict[str, str] = {
    "car": "car",
    "truck": "truck",
    "bus": "bus",
    "motorcycle": "motorcycle",
    "bicycle": "bicycle",
    "person": "person",
    "animal": "other",
}
SPLITS = ("track", "bag")

Progress = Callable[[int], None]


class CropError(ValueError):
    """No usable crops: not a bag, no camera or ground-truth topic, or every box too small."""


@dataclass(frozen=True)
class CropSpec:
    """How crops are cut; the defaults are the ROI node's (roi.proposals.RoiConfig)."""

    margin: float = 0.1
    min_size_px: float = 12.0
    image_topic: str = IMAGE_TOPIC
    ground_truth_topic: str = GROUND_TRUTH_TOPIC


@dataclass
class CropSet:
    """Raw RGB crops with their ground-truth class and the object each one shows."""

    images: list[NDArray[np.uint8]]
    labels: NDArray[np.int64]
    groups: list[str]
    sources: list[str]
    classes: tuple[str, ...] = ROI_CLASSES
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Every per-crop list must have one entry per crop."""
        n = len(self.images)
        if not (len(self.labels) == len(self.groups) == len(self.sources) == n):
            raise ValueError("images, labels, groups and sources must have the same length")

    def __len__(self) -> int:
        """Number of crops."""
        return len(self.images)

    def subset(self, indices: Sequence[int] | NDArray[np.integer]) -> CropSet:
        """The crops at `indices` (in that order)."""
        idx = [int(i) for i in indices]
        return CropSet(
            images=[self.images[i] for i in idx],
            labels=self.labels[idx] if idx else np.zeros(0, np.int64),
            groups=[self.groups[i] for i in idx],
            sources=[self.sources[i] for i in idx],
            classes=self.classes,
            meta=dict(self.meta),
        )

    def sample(self, count: int | None, seed: int = 0) -> CropSet:
        """At most `count` crops drawn without replacement (seeded), kept in their original order."""
        if count is None or count >= len(self):
            return self
        rng = np.random.default_rng(seed)
        return self.subset(np.sort(rng.choice(len(self), size=count, replace=False)))

    def split(self, heldout_fraction: float, seed: int = 0, by: str = "track") -> tuple[CropSet, CropSet]:
        """(train, held-out) with whole objects (`track`) or whole bags (`bag`) on one side.

        Groups are shuffled with `seed` and taken into the held-out side until it holds about
        `heldout_fraction` of the crops. 0 gives an empty held-out set, 1 puts everything there.
        """
        if not 0.0 <= heldout_fraction <= 1.0:
            raise ValueError(f"heldout_fraction must be within [0, 1], got {heldout_fraction}")
        if by not in SPLITS:
            raise ValueError(f"split by must be one of {SPLITS}, got {by!r}")
        keys = self.sources if by == "bag" else self.groups
        sizes = Counter(keys)
        order = sorted(sizes)
        rng = np.random.default_rng(seed)
        rng.shuffle(order)
        target = heldout_fraction * len(self)
        held: set[str] = set()
        taken = 0
        for key in order:
            if taken >= target or heldout_fraction == 0.0:
                break
            held.add(key)
            taken += sizes[key]
        held_idx = [i for i, k in enumerate(keys) if k in held]
        train_idx = [i for i, k in enumerate(keys) if k not in held]
        return self.subset(train_idx), self.subset(held_idx)

    def class_counts(self) -> dict[str, int]:
        """Crops per class name (classes with no crop are left out)."""
        counts = Counter(int(v) for v in self.labels)
        return {self.classes[k]: counts[k] for k in sorted(counts)}

    def preprocess(self, spec: PreprocessSpec, indices: Sequence[int] | None = None) -> NDArray[Any]:
        """The crops (all, or `indices`) as one model-input batch, through the manifest's Preprocessor."""
        chosen = range(len(self)) if indices is None else indices
        pre = Preprocessor(spec)
        out = pre.allocate(max(1, len(chosen)))
        for row, i in enumerate(chosen):
            pre.fill(out, row, self.images[i])
        return out[: len(chosen)]

    def batches(self, spec: PreprocessSpec, batch_size: int) -> Iterator[tuple[range, NDArray[Any]]]:
        """(index range, model-input batch) over all crops, `batch_size` at a time, one buffer reused."""
        pre = Preprocessor(spec)
        buffer = pre.allocate(batch_size)
        for start in range(0, len(self), batch_size):
            rows = range(start, min(start + batch_size, len(self)))
            for row, i in enumerate(rows):
                pre.fill(buffer, row, self.images[i])
            yield rows, buffer[: len(rows)]

    def describe(self) -> str:
        """e.g. `914 crops from 1 bag(s), 120 objects: car 700, truck 110, ...`."""
        counts = ", ".join(f"{k} {v}" for k, v in self.class_counts().items())
        return (
            f"{len(self)} crops from {len(set(self.sources))} bag(s), {len(set(self.groups))} objects"
            + (f": {counts}" if counts else "")
        )


def concat(sets: Sequence[CropSet]) -> CropSet:
    """One CropSet holding all crops of `sets` (which must share their class list)."""
    if not sets:
        raise ValueError("nothing to concatenate")
    classes = sets[0].classes
    if any(s.classes != classes for s in sets):
        raise ValueError("crop sets have different class lists")
    return CropSet(
        images=[img for s in sets for img in s.images],
        labels=np.concatenate([s.labels for s in sets]).astype(np.int64),
        groups=[g for s in sets for g in s.groups],
        sources=[src for s in sets for src in s.sources],
        classes=classes,
        meta={"bags": [b for s in sets for b in s.meta.get("bags", [])]},
    )


def find_bags(path: str | Path) -> list[Path]:
    """`path` itself when it is a bag (rosbag2 directory, .mcap or .db3), else the bags directly inside it."""
    path = Path(path)
    if not path.exists():
        raise CropError(f"{path}: no such bag or directory")
    if path.is_file() or (path / "metadata.yaml").is_file():
        return [path]
    found = sorted(p for p in path.iterdir() if (p / "metadata.yaml").is_file() or p.suffix in (".mcap", ".db3"))
    if not found:
        raise CropError(f"{path}: neither a rosbag2 bag nor a directory of bags")
    return found


def _rgb(msg: Any) -> NDArray[np.uint8]:
    """sensor_msgs/Image rgb8/bgr8 -> HxWx3 RGB (a copy: the crops outlive the message)."""
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if msg.encoding not in ("rgb8", "bgr8"):
        raise CropError(f"camera encoding {msg.encoding!r} is not rgb8/bgr8")
    data = np.asarray(msg.data, dtype=np.uint8)
    if h <= 0 or w <= 0 or step < 3 * w or data.size != h * step:
        raise CropError(f"camera image {w}x{h} step {step} does not match its {data.size} bytes")
    rows = data.reshape(h, step)[:, : 3 * w].reshape(h, w, 3)
    return np.ascontiguousarray(rows if msg.encoding == "rgb8" else rows[:, :, ::-1])


def _stamp_ns(header: Any) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def crops_from_bag(
    path: str | Path, spec: CropSpec | None = None, classes: Sequence[str] = ROI_CLASSES,
    progress: Progress | None = None,
) -> CropSet:
    """Every ground-truth object of a traffic bag as a crop (see the module docstring).

    Frames are matched to their ground truth by stamp; frames without ground truth (and damaged
    messages) are skipped. `progress(1)` is called per camera frame. Raises CropError when the bag
    has no camera or ground-truth topic, or yields no crop.
    """
    spec = spec or CropSpec()
    classes = tuple(classes)
    other = classes.index("other") if "other" in classes else None
    path = Path(path)
    images: list[NDArray[np.uint8]] = []
    labels: list[int] = []
    groups: list[str] = []
    pending_frames: dict[int, NDArray[np.uint8]] = {}
    pending_truth: dict[int, dict[str, Any]] = {}

    def emit(frame: NDArray[np.uint8], truth: dict[str, Any]) -> None:
        height, width = frame.shape[:2]
        for obj in truth.get("objects", []):
            box = obj.get("bbox_xyxy")
            if box is None:
                continue
            x0, y0, x1, y1 = expand_and_clip(tuple(float(v) for v in box), spec.margin, width, height)  # type: ignore[arg-type]
            if min(x1 - x0, y1 - y0) < spec.min_size_px:
                continue
            name = GT_TO_CLASS.get(str(obj.get("class")), "other")
            if name not in classes:
                if other is None:
                    continue
                label = other
            else:
                label = classes.index(name)
            # Whole pixels covering the box, as the ROI node's crop view does.
            crop = frame[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))]
            images.append(np.ascontiguousarray(crop))
            labels.append(label)
            groups.append(f"{path}:{obj.get('track_id', len(groups))}")

    try:
        with BagReader(path) as reader:
            topics = reader.topics
            missing = [t for t in (spec.image_topic, spec.ground_truth_topic) if t not in topics]
            if missing:
                raise CropError(f"{path}: bag has no {missing} (crops need camera frames and ground truth)")
            for message, msg in reader.decoded([spec.image_topic, spec.ground_truth_topic]):
                if msg is None:
                    continue
                if message.topic == spec.image_topic:
                    if progress is not None:
                        progress(1)
                    try:
                        frame = _rgb(msg)
                    except CropError:
                        continue  # a damaged frame is skipped, like the pipeline rejects it
                    stamp = _stamp_ns(msg.header)
                    if stamp in pending_truth:
                        emit(frame, pending_truth.pop(stamp))
                    else:
                        pending_frames[stamp] = frame
                else:
                    try:
                        truth = json.loads(msg.data)
                    except (json.JSONDecodeError, TypeError):
                        continue
                    if not isinstance(truth, dict) or truth.get("scene", "traffic") != "traffic":
                        continue
                    stamp = int(truth.get("stamp_ns", -1))
                    if stamp in pending_frames:
                        emit(pending_frames.pop(stamp), truth)
                    else:
                        pending_truth[stamp] = truth
                # Frames and ground truth share a stamp and arrive together; anything older than
                # a few unmatched entries will never be matched and only costs memory.
                for pending in (pending_frames, pending_truth):
                    while len(pending) > 8:
                        pending.pop(min(pending))
    except BagError as exc:
        raise CropError(str(exc)) from exc
    if not images:
        raise CropError(f"{path}: no ground-truth object of at least {spec.min_size_px:g} px in any frame")
    return CropSet(
        images=images,
        labels=np.asarray(labels, dtype=np.int64),
        groups=groups,
        sources=[str(path)] * len(images),
        classes=classes,
        meta={"bags": [str(path)]},
    )


def load_crops(
    paths: Sequence[str | Path], spec: CropSpec | None = None, classes: Sequence[str] = ROI_CLASSES,
    progress: Progress | None = None,
) -> CropSet:
    """Crops of every bag in `paths` (each a bag or a directory of bags), in the order given."""
    bags = [bag for p in paths for bag in find_bags(p)]
    if not bags:
        raise CropError("no bags given")
    return concat([crops_from_bag(bag, spec, classes, progress) for bag in bags])
