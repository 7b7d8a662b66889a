"""Deterministic conveyor inspection run: a top-down camera over a belt carrying machined parts.

Topics (10 Hz, record time = header stamp except for the out-of-order fault):
- /camera/image_raw    sensor_msgs/Image 640x480 rgb8, frame camera_optical_frame, k * 100 ms
- /camera/camera_info  sensor_msgs/CameraInfo (K = [800 0 320; 0 800 240; 0 0 1]: the belt is 0.8 m
                       below the camera, so 1 px = 1 mm on the belt)
- /ground_truth/scene  std_msgs/String JSON (ground_truth.py, scene 'industrial'), same stamps
No radar or GPS. The belt runs left to right at 0.2 m/s (20 px per frame); parts enter on the left
every 0.9..1.6 s and cross the image in about 3.5 s, so each part is seen whole in several frames.
About 40 % of parts carry one defect (industrial_parts.Defect); verdict REJECT iff defect != none.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from edge_llm_ros.msgs import MessageCodec
from edge_llm_ros.sim import faults as bad
from edge_llm_ros.sim import ground_truth
from edge_llm_ros.sim.calibration import CAMERA_FRAME, PinholeCamera
from edge_llm_ros.sim.industrial_parts import Defect, PartKind, PartSprite, draw_part
from edge_llm_ros.sim.photos import texture
from edge_llm_ros.sim.records import (
    CAMERA_INFO_TOPIC,
    DEFAULT_START_NS,
    GROUND_TRUTH_TOPIC,
    IMAGE_TOPIC,
    SENSOR_TOPICS,
    BagRecord,
    Fault,
    MessageFactory,
    TopicSpec,
)
from edge_llm_ros.sim.render import Box, Canvas, clip_box

FRAME_PERIOD_NS = 100_000_000
CONVEYOR_CAMERA = PinholeCamera(width=640, height=480, fx=800.0, fy=800.0, cx=320.0, cy=240.0)
MM_PER_PX = 1.0
BELT_TOP, BELT_BOTTOM = 70, 410
DEFECTS = (Defect.SCRATCH, Defect.MISSING_HOLE, Defect.CRACK, Defect.DENT, Defect.DISCOLORATION)
IMAGE_FAULT_PLAN: tuple[tuple[str, float], ...] = (
    ("camera_out_of_order", 0.3),
    ("camera_unknown_encoding", 0.5),
    ("camera_size_mismatch", 0.7),
)


@dataclass(frozen=True)
class IndustrialConfig:
    """Parameters of a conveyor run; the same config always gives the same bag."""

    duration_s: float = 20.0
    seed: int = 0
    faults: bool = False
    start_ns: int = DEFAULT_START_NS
    belt_speed_mps: float = 0.2
    defect_rate: float = 0.4
    image_noise_sigma: float = 2.0


@dataclass(frozen=True)
class Part:
    """One part on the belt: where its sprite's top-left corner is at frame 0, and what it is."""

    part_id: int
    kind: PartKind
    defect: Defect
    sprite: PartSprite
    x0_px: float
    y_px: float
    opaque_box: Box

    def left(self, frame: int, px_per_frame: float) -> float:
        """Sprite left edge at `frame`."""
        return self.x0_px + frame * px_per_frame


class IndustrialScene:
    """Yields the records of one conveyor run in time order."""

    name = "industrial"

    def __init__(self, config: IndustrialConfig, codec: MessageCodec) -> None:
        """Draw every part of the run up front (seeded), then render frames lazily."""
        if config.duration_s <= 0:
            raise ValueError(f"duration must be positive, got {config.duration_s}")
        self.config = config
        self.codec = codec
        self.factory = MessageFactory(codec)
        self.camera = CONVEYOR_CAMERA
        self.frame_count = max(1, round(config.duration_s * 1e9 / FRAME_PERIOD_NS))
        self.px_per_frame = config.belt_speed_mps * 1000.0 / MM_PER_PX * FRAME_PERIOD_NS / 1e9
        self.faults: list[Fault] = []
        rng = np.random.default_rng([config.seed, 10])
        self.parts = self._schedule(rng)
        self._noise = [
            np.round(rng.normal(0.0, config.image_noise_sigma, (480, 640, 3))).astype(np.int16) for _ in range(4)
        ]
        self._belt = self._belt_texture()

    def _schedule(self, rng: np.random.Generator) -> list[Part]:
        parts: list[Part] = []
        # Start 40 frames early so the belt is already loaded at t = 0.
        frame = -40
        while frame < self.frame_count:
            kind = PartKind.DISC if rng.random() < 0.55 else PartKind.PLATE
            defect = DEFECTS[int(rng.integers(len(DEFECTS)))] if rng.random() < self.config.defect_rate else Defect.NONE
            sprite = draw_part(kind, defect, rng)
            h, w = sprite.rgba.shape[:2]
            y = float(rng.uniform(BELT_TOP + 10, BELT_BOTTOM - 10 - h))
            # Sprite fully left of the image at its spawn frame.
            x0 = -float(w) - frame * self.px_per_frame
            parts.append(Part(len(parts) + 1, kind, defect, sprite, x0, y, _opaque_box(sprite)))
            gap_s = float(rng.uniform(0.9, 1.6))
            frame += max(1, round(gap_s * 1e9 / FRAME_PERIOD_NS))
        return parts

    def _belt_texture(self) -> np.ndarray:
        # Rubber grain: the gravel texture shrunk 4x (128 px tile) and faint.
        grain = cv2.resize(texture("gravel"), (128, 128), interpolation=cv2.INTER_AREA)
        band = np.tile(grain, (-(-(BELT_BOTTOM - BELT_TOP) // 128), 12))[: BELT_BOTTOM - BELT_TOP]
        return np.asarray(np.clip(52.0 + 3.0 * band, 0, 255), dtype=np.float32)

    def topics(self) -> list[TopicSpec]:
        """Every topic this scene writes."""
        return [SENSOR_TOPICS[t] for t in (IMAGE_TOPIC, CAMERA_INFO_TOPIC, GROUND_TRUTH_TOPIC)]

    def custom_data(self) -> dict[str, str]:
        """metadata.yaml custom_data: scene, seed, schema and (faults mode) the fault list."""
        data = {
            "edge_llm_ros/scene": "industrial",
            "edge_llm_ros/seed": str(self.config.seed),
            "edge_llm_ros/ground_truth_schema": ground_truth.SCHEMA_ID,
            "edge_llm_ros/parts": json.dumps(
                [{"part_id": p.part_id, "kind": p.kind.value, "defect": p.defect.value} for p in self.parts]
            ),
        }
        if self.config.faults:
            data["edge_llm_ros/faults"] = json.dumps([f.as_dict() for f in self.faults], sort_keys=True)
        return data

    def records(self) -> Iterator[BagRecord]:
        """All messages of the run in record-time order."""
        plan = IMAGE_FAULT_PLAN if self.config.faults else ()
        pending = {kind: round(frac * self.frame_count) for kind, frac in plan}
        last_image: Any = None
        for frame in range(self.frame_count):
            stamp = self.config.start_ns + frame * FRAME_PERIOD_NS
            yield BagRecord(CAMERA_INFO_TOPIC, stamp, self.factory.camera_info(stamp, CAMERA_FRAME, self.camera))
            rgb, doc = self.render(frame, stamp)
            image = self.factory.image(stamp, CAMERA_FRAME, rgb)
            if pending.get("camera_unknown_encoding") == frame:
                self.faults.append(Fault("camera_unknown_encoding", IMAGE_TOPIC, stamp, stamp, True))
                yield BagRecord(IMAGE_TOPIC, stamp, bad.unknown_encoding(image))
            else:
                yield BagRecord(IMAGE_TOPIC, stamp, image)
            if pending.get("camera_out_of_order") == frame and last_image is not None:
                old = stamp - 3 * FRAME_PERIOD_NS
                self.faults.append(Fault("camera_out_of_order", IMAGE_TOPIC, stamp + 1000, old, False))
                yield BagRecord(IMAGE_TOPIC, stamp + 1000, bad.restamp(last_image, old, self.factory))
            if pending.get("camera_size_mismatch") == frame:
                self.faults.append(Fault("camera_size_mismatch", IMAGE_TOPIC, stamp + 2000, stamp, False))
                yield BagRecord(IMAGE_TOPIC, stamp + 2000, bad.size_mismatch(image))
            last_image = image
            yield BagRecord(GROUND_TRUTH_TOPIC, stamp, self.factory.string(ground_truth.encode(doc)))

    def render(self, frame: int, stamp: int) -> tuple[np.ndarray, dict[str, Any]]:
        """The rgb8 frame and its ground-truth document."""
        h, w = self.camera.height, self.camera.width
        img = np.empty((h, w, 3), np.float32)
        img[:] = (38.0, 40.0, 44.0)
        shift = round(frame * self.px_per_frame) % 512
        belt = self._belt[:, 512 - shift : 512 - shift + w]
        img[BELT_TOP:BELT_BOTTOM] = belt[..., None]
        # Belt splice every 300 px, moving with the belt.
        for seam in range(int(frame * self.px_per_frame) % 300, w, 300):
            img[BELT_TOP:BELT_BOTTOM, seam : seam + 3] += 14.0
        img[BELT_TOP - 12 : BELT_TOP] = (150.0, 152.0, 158.0)
        img[BELT_BOTTOM : BELT_BOTTOM + 12] = (150.0, 152.0, 158.0)
        canvas = Canvas(np.clip(img, 0, 255).astype(np.uint8))
        parts_gt: list[dict[str, Any]] = []
        for part in self.parts:
            ph, pw = part.sprite.rgba.shape[:2]
            left = part.left(frame, self.px_per_frame)
            if left >= w or left + pw <= 0:
                continue
            box: Box = (left, part.y_px, left + pw, part.y_px + ph)
            canvas.paste(part.part_id, part.sprite.rgba, box)
            ox0, oy0, ox1, oy1 = part.opaque_box
            tight = (left + ox0, part.y_px + oy0, left + ox1, part.y_px + oy1)
            clipped = clip_box(tight, w, h)
            if clipped is None:
                continue
            defect_box = None
            if part.sprite.defect_box is not None:
                dx0, dy0, dx1, dy1 = part.sprite.defect_box
                defect_box = clip_box((left + dx0, part.y_px + dy0, left + dx1, part.y_px + dy1), w, h)
            parts_gt.append(
                {
                    "part_id": part.part_id,
                    "kind": part.kind.value,
                    "bbox_xyxy": [round(v, 2) for v in clipped],
                    "fully_visible": bool(tight[0] >= 0 and tight[2] <= w),
                    "defect": part.defect.value,
                    "defect_bbox_xyxy": None if defect_box is None else [round(v, 2) for v in defect_box],
                    "verdict": "PASS" if part.defect is Defect.NONE else "REJECT",
                }
            )
        # Seeded sensor noise, cycled over a small bank.
        shaded = canvas.rgb.astype(np.int16) + self._noise[frame % len(self._noise)]
        rgb = np.clip(shaded, 0, 255).astype(np.uint8)
        doc = {
            "schema": ground_truth.SCHEMA_ID,
            "scene": "industrial",
            "stamp_ns": stamp,
            "frame_index": frame,
            "seed": self.config.seed,
            "belt_speed_mps": self.config.belt_speed_mps,
            "mm_per_px": MM_PER_PX,
            "parts": parts_gt,
            "rejects": sum(1 for p in parts_gt if p["verdict"] == "REJECT"),
        }
        return rgb, doc


def _opaque_box(sprite: PartSprite) -> Box:
    """Box of a sprite's opaque pixels in sprite coordinates (the sprite has a transparent margin)."""
    alpha = sprite.rgba[:, :, 3] > 127
    rows = np.flatnonzero(alpha.any(axis=1))
    cols = np.flatnonzero(alpha.any(axis=0))
    return (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))
