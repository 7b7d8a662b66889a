"""Compose one traffic camera frame: road, billboards, then road users far to near."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge_llm_ros.sim.calibration import RADAR_HEIGHT_M, Calibration
from edge_llm_ros.sim.photos import animal_sprite, billboard_photo, motorcycle_sprite, person_sprite
from edge_llm_ros.sim.render import Box, Canvas, bicycle_sprite, clip_box, draw_vehicle, projected_box
from edge_llm_ros.sim.road import RoadRenderer
from edge_llm_ros.sim.traffic_scenario import ActorState, Billboard, Scenario

Image = npt.NDArray[np.uint8]

_SPRITES = {
    "person": person_sprite,
    "motorcycle": motorcycle_sprite,
    "bicycle": bicycle_sprite,
    "animal": animal_sprite,
}


@dataclass(frozen=True)
class Visibility:
    """Where an object is in the frame: clipped box (None if not in the image) and visible share."""

    bbox_xyxy: Box | None
    visible_fraction: float


@dataclass(frozen=True)
class Distractor:
    """A non-road-user photo in the frame."""

    kind: str
    image: str
    bbox_xyxy: Box


class TrafficRenderer:
    """Renders frames for one scenario with fixed calibration; sensor noise is seeded."""

    def __init__(self, calib: Calibration, seed: int, noise_sigma: float) -> None:
        """Precompute the road geometry and a small bank of sensor-noise frames."""
        self.calib = calib
        self.road = RoadRenderer(calib, seed)
        rng = np.random.default_rng([seed, 1])
        shape = (calib.camera.height, calib.camera.width, 3)
        # Four noise frames cycled: cheap, and consecutive frames still differ.
        self.noise = [np.round(rng.normal(0.0, noise_sigma, shape)).astype(np.int16) for _ in range(4)]

    def render(
        self, scenario: Scenario, t: float, frame_index: int, states: list[ActorState]
    ) -> tuple[Image, dict[int, Visibility], list[Distractor]]:
        """The rgb8 frame at time t plus per-actor visibility and visible distractors."""
        cam = self.calib.camera
        s_ego = scenario.ego_s(t)
        canvas = Canvas(self.road.render(s_ego))
        boxes: dict[int, Box] = {}
        far_to_near: list[tuple[float, Billboard | ActorState]] = []
        for board in scenario.billboards:
            x = board.s - s_ego
            if 1.0 < x < 150.0:
                far_to_near.append((x, board))
        far_to_near.extend((state.position[0], state) for state in states)
        far_to_near.sort(key=lambda item: -item[0])
        distractors: list[Distractor] = []
        for x, item in far_to_near:
            if isinstance(item, ActorState):
                box = self._draw_actor(canvas, item)
                if box is not None:
                    boxes[item.actor.actor_id] = box
            else:
                distractor = self._draw_billboard(canvas, item, x)
                if distractor is not None:
                    distractors.append(distractor)
        frame = canvas.rgb.astype(np.int16) + self.noise[frame_index % len(self.noise)]
        rgb = np.clip(frame, 0, 255).astype(np.uint8)
        visible = canvas.visible_pixels()
        out: dict[int, Visibility] = {}
        for state in states:
            obj_id = state.actor.actor_id
            box = boxes.get(obj_id)
            clipped = clip_box(box, cam.width, cam.height) if box is not None else None
            if box is None or clipped is None:
                out[obj_id] = Visibility(None, 0.0)
                continue
            full = (box[2] - box[0]) * (box[3] - box[1])
            inside = (clipped[2] - clipped[0]) * (clipped[3] - clipped[1]) / full if full > 0 else 0.0
            painted = canvas.painted.get(obj_id, 0)
            unoccluded = visible.get(obj_id, 0) / painted if painted else 0.0
            out[obj_id] = Visibility(clipped, float(min(1.0, inside * unoccluded)))
        return rgb, out, distractors

    def _draw_billboard(self, canvas: Canvas, board: Billboard, x: float) -> Distractor | None:
        cam = self.calib.camera
        center_z = board.bottom_m + board.height_m / 2 - RADAR_HEIGHT_M
        board_box = projected_box(self.calib, (x, board.lateral, center_z), (0.05, board.width_m, board.height_m))
        if board_box is None:
            return None
        post = projected_box(
            self.calib, (x, board.lateral, board.bottom_m / 2 - RADAR_HEIGHT_M), (0.05, 0.12, board.bottom_m)
        )
        if post is not None:
            canvas.detail(
                [(post[0], post[1]), (post[2], post[1]), (post[2], post[3]), (post[0], post[3])], (90, 90, 95)
            )
        canvas.paste(board.billboard_id, billboard_photo(board.image), board_box)
        clipped = clip_box(board_box, cam.width, cam.height)
        return Distractor("billboard", board.image, clipped) if clipped is not None else None

    def _draw_actor(self, canvas: Canvas, state: ActorState) -> Box | None:
        actor = state.actor
        box = projected_box(self.calib, state.position, actor.size)
        if box is None:
            return None
        if actor.look in _SPRITES:
            canvas.paste(actor.actor_id, _SPRITES[actor.look](), box, flip=actor.flip)
        else:
            draw_vehicle(canvas, actor.actor_id, self.calib, state.position, actor.size, actor.color, actor.look)
        return box
