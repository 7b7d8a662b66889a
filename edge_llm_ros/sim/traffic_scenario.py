"""Seeded traffic scenario: the ego vehicle's motion and every road user's trajectory.

World frame: s metres along a straight road from the ego's start, l metres to the left of the ego
lane's centre line. The ego drives at a constant speed in its lane; its reference point is the radar,
so a road user at (s, l) is at radar x = s - s_ego(t), y = l.

A drive is a sequence of 5 s episodes on top of background traffic:
- the first episode is always a pedestrian crossing close enough ahead to need a warning within
  the first 3 s, so even short test drives contain CAUTION and BRAKE frames;
- later episodes are drawn (seeded) from: a car or truck cutting in from the right lane and braking
  hard, then pulling away (approach, then recede); a person, bicycle, motorcycle or animal crossing
  the road at a random distance (some need a warning, some pass far enough ahead not to); a slow
  truck in the right lane being overtaken (never in the ego lane);
- background: oncoming cars in the left lane (fast closing, never in the ego lane), cars parked on
  the right verge (static), billboards with photos on the left verge (not road users).
Trajectories are integrated at 5 ms, so camera (100 ms), radar (50 ms) and GPS stamps fall on steps.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edge_llm_ros.sim.calibration import RADAR_HEIGHT_M
from edge_llm_ros.sim.rules import EGO_LANE_HALF_WIDTH_M, ObjectClass

DT_S = 0.005
EPISODE_S = 4.5
RADAR_MAX_RANGE_M = 150.0
RADAR_HALF_FOV_RAD = math.radians(60.0)
RADAR_MIN_X_M = 0.5

FloatArray = npt.NDArray[np.float64]
Color = tuple[int, int, int]

SIZES: dict[ObjectClass, tuple[float, float, float]] = {
    # Extents along radar x, y, z while moving along the road (cars, trucks) ...
    ObjectClass.CAR: (4.4, 1.8, 1.5),
    ObjectClass.TRUCK: (8.0, 2.5, 3.4),
    # ... and while crossing it (side on to the camera).
    ObjectClass.MOTORCYCLE: (0.8, 2.1, 1.25),
    ObjectClass.BICYCLE: (0.6, 1.8, 1.1),
    ObjectClass.PERSON: (0.5, 0.7, 1.75),
    ObjectClass.ANIMAL: (0.35, 0.9, 0.6),
}
CROSSING_SPEED_MPS: dict[ObjectClass, tuple[float, float]] = {
    ObjectClass.PERSON: (1.2, 1.6),
    ObjectClass.ANIMAL: (2.0, 3.0),
    ObjectClass.BICYCLE: (3.5, 5.0),
    ObjectClass.MOTORCYCLE: (5.0, 7.5),
}
CAR_COLORS: tuple[Color, ...] = (
    (180, 30, 30),
    (30, 60, 150),
    (200, 200, 205),
    (40, 40, 45),
    (20, 110, 60),
    (220, 170, 30),
    (120, 120, 128),
)


@dataclass
class Actor:
    """One road user with its sampled trajectory (arrays indexed by 5 ms step)."""

    actor_id: int
    cls: ObjectClass
    look: str
    color: Color
    t_on: float
    t_off: float
    s: FloatArray
    lateral: FloatArray
    vs: FloatArray
    vl: FloatArray
    acc: FloatArray
    uuid: bytes
    flip: bool = False

    @property
    def size(self) -> tuple[float, float, float]:
        """Extents along radar x, y, z."""
        return SIZES[self.cls]

    @property
    def track_id(self) -> str:
        """The radar uuid as 32 hex characters."""
        return self.uuid.hex()


@dataclass(frozen=True)
class ActorState:
    """An actor at one instant, in radar_link (velocity and acceleration relative to the ego)."""

    actor: Actor
    position: tuple[float, float, float]
    velocity: tuple[float, float, float]
    acceleration: tuple[float, float, float]


@dataclass(frozen=True)
class Billboard:
    """A roadside photo board facing the road (clutter, not radar-tracked)."""

    billboard_id: int
    s: float
    lateral: float
    image: str
    width_m: float = 3.2
    height_m: float = 2.1
    bottom_m: float = 1.8


@dataclass
class Scenario:
    """Everything that happens in one drive."""

    seed: int
    duration_s: float
    ego_speed_mps: float
    heading_deg: float
    actors: list[Actor]
    billboards: list[Billboard]
    episodes: list[tuple[float, str]] = field(default_factory=list)

    @property
    def steps(self) -> int:
        """Number of 5 ms steps sampled (duration plus one spare second)."""
        return round((self.duration_s + 1.0) / DT_S) + 1

    def ego_s(self, t: float) -> float:
        """Ego distance travelled at time t."""
        return self.ego_speed_mps * t

    def states(self, t: float) -> list[ActorState]:
        """Actors that exist at t and are inside the radar field of view, nearest first."""
        step = round(t / DT_S)
        out: list[ActorState] = []
        for actor in self.actors:
            if not actor.t_on <= t <= actor.t_off:
                continue
            x = float(actor.s[step]) - self.ego_s(t)
            y = float(actor.lateral[step])
            if not (RADAR_MIN_X_M < x < RADAR_MAX_RANGE_M) or abs(math.atan2(y, x)) > RADAR_HALF_FOV_RAD:
                continue
            z = actor.size[2] / 2 - RADAR_HEIGHT_M
            out.append(
                ActorState(
                    actor,
                    (x, y, z),
                    (float(actor.vs[step]) - self.ego_speed_mps, float(actor.vl[step]), 0.0),
                    (float(actor.acc[step]), 0.0, 0.0),
                )
            )
        out.sort(key=lambda st: math.hypot(st.position[0], st.position[1]))
        return out


def _integrate(
    steps: int,
    s0: float,
    v0: float,
    accel_events: list[tuple[float, float]],
    vmin: float,
    vmax: float,
    l0: float,
    lateral_events: list[tuple[float, float]],
    l_target: float | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Integrate one trajectory (semi-implicit Euler).

    Longitudinal acceleration is piecewise constant with the speed clamped to [vmin, vmax]; the
    lateral speed is piecewise constant and stops on reaching `l_target`.
    """
    s, lat = np.empty(steps), np.empty(steps)
    vs, vl, acc = np.empty(steps), np.empty(steps), np.empty(steps)
    pos, speed, lateral, a, lat_v = s0, v0, l0, 0.0, 0.0
    events = sorted(accel_events)
    lat_events = sorted(lateral_events)
    for k in range(steps):
        t = k * DT_S
        while events and events[0][0] <= t + 1e-9:
            a = events.pop(0)[1]
        while lat_events and lat_events[0][0] <= t + 1e-9:
            lat_v = lat_events.pop(0)[1]
        if l_target is not None and lat_v != 0.0 and (l_target - lateral) * lat_v <= 0:
            lateral, lat_v = l_target, 0.0
        effective = a if (a > 0 and speed < vmax) or (a < 0 and speed > vmin) else 0.0
        s[k], lat[k], vs[k], vl[k], acc[k] = pos, lateral, speed, lat_v, effective
        speed = min(vmax, max(vmin, speed + effective * DT_S))
        pos += speed * DT_S
        lateral += lat_v * DT_S
    return s, lat, vs, vl, acc


class _Builder:
    """Draws actors from one seeded random stream, in a fixed order (so seeds are reproducible)."""

    def __init__(self, seed: int, duration_s: float) -> None:
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.duration_s = duration_s
        self.ego_speed = float(self.rng.uniform(8.0, 11.0))
        self.steps = round((duration_s + 1.0) / DT_S) + 1
        self.actors: list[Actor] = []

    def _uuid(self, actor_id: int) -> bytes:
        return hashlib.sha256(f"edge_llm_ros/traffic/{self.seed}/{actor_id}".encode()).digest()[:16]

    def _color(self) -> Color:
        return CAR_COLORS[int(self.rng.integers(len(CAR_COLORS)))]

    def add(
        self,
        cls: ObjectClass,
        look: str,
        color: Color,
        t_on: float,
        t_off: float,
        flip: bool = False,
        **motion: object,
    ) -> None:
        actor_id = len(self.actors) + 1
        s, lat, vs, vl, acc = _integrate(self.steps, **motion)  # type: ignore[arg-type]
        self.actors.append(
            Actor(actor_id, cls, look, color, max(0.0, t_on), t_off, s, lat, vs, vl, acc, self._uuid(actor_id), flip)
        )

    def crossing(self, t0: float, cls: ObjectClass, margin_range: tuple[float, float]) -> None:
        """A road user crossing the ego lane ahead; `margin` = ego arrival time after it left the lane."""
        speed = float(self.rng.uniform(*CROSSING_SPEED_MPS[cls]))
        direction = 1.0 if self.rng.random() < 0.5 else -1.0
        t_in = t0 + float(self.rng.uniform(0.3, 1.0))
        margin = float(self.rng.uniform(*margin_range))
        t_arrive = t_in + 2 * EGO_LANE_HALF_WIDTH_M / speed + margin
        start_l, end_l = 7.0, 8.0
        t_start = t_in - (start_l - EGO_LANE_HALF_WIDTH_M) / speed
        t_end = t_in + (end_l + EGO_LANE_HALF_WIDTH_M) / speed
        l_at_zero = direction * (-EGO_LANE_HALF_WIDTH_M - speed * t_in)
        # The photos face right; a road user moving left (l increasing) is mirrored.
        self.add(
            cls,
            cls.value,
            (0, 0, 0),
            max(t_start, t0 - 1.0),
            t_end,
            flip=direction > 0,
            s0=self.ego_speed * t_arrive,
            v0=0.0,
            accel_events=[],
            vmin=0.0,
            vmax=0.0,
            l0=l_at_zero,
            lateral_events=[(0.0, direction * speed)],
        )

    def cut_in(self, t0: float) -> None:
        """A car or truck cuts in from the right lane, brakes hard, then accelerates away."""
        cls = ObjectClass.TRUCK if self.rng.random() < 0.25 else ObjectClass.CAR
        look = "truck_rear" if cls is ObjectClass.TRUCK else "car_rear"
        color = (215, 215, 210) if cls is ObjectClass.TRUCK else self._color()
        v0 = self.ego_speed + float(self.rng.uniform(0.5, 1.5))
        t_brake = t0 + float(self.rng.uniform(1.2, 1.8))
        t_hold = t_brake + float(self.rng.uniform(1.2, 2.0))
        t_go = t_hold + float(self.rng.uniform(0.4, 0.8))
        motion: dict[str, object] = {
            "v0": v0,
            "accel_events": [
                (t_brake, -float(self.rng.uniform(3.5, 6.0))),
                (t_hold, 0.0),
                (t_go, float(self.rng.uniform(2.5, 3.5))),
            ],
            "vmin": 0.0,
            "vmax": self.ego_speed + 4.0,
            "l0": -3.5,
            "lateral_events": [(t0 + 0.3, float(self.rng.uniform(1.5, 2.2)))],
            "l_target": 0.0,
        }
        gap = float(self.rng.uniform(14.0, 26.0))
        # Keep a safe centroid gap: half the length plus 4 m at the closest point.
        s_rel, *_ = _integrate(self.steps, s0=0.0, **motion)  # type: ignore[arg-type]
        times = np.arange(self.steps) * DT_S
        rel = s_rel - self.ego_speed * times
        window = times >= t0
        needed = SIZES[cls][0] / 2 + 4.0 - float(rel[window].min())
        s0 = max(gap - float(rel[round(t0 / DT_S)]), needed)
        self.add(cls, look, color, t0, t0 + 14.0, False, s0=s0, **motion)

    def truck_pass(self, t0: float) -> None:
        """A slow truck in the right lane that the ego overtakes."""
        x0 = float(self.rng.uniform(40.0, 60.0))
        speed = self.ego_speed - float(self.rng.uniform(2.0, 4.0))
        s0 = self.ego_speed * t0 + x0 - speed * t0
        self.add(
            ObjectClass.TRUCK, "truck_rear", (200, 205, 210), t0, self.duration_s + 1.0,
            s0=s0, v0=speed, accel_events=[], vmin=speed, vmax=speed, l0=-3.5, lateral_events=[],
        )  # fmt: skip

    def oncoming(self) -> None:
        """Cars in the left lane driving towards the ego."""
        t = float(self.rng.uniform(0.5, 3.0))
        while t < self.duration_s:
            speed = float(self.rng.uniform(8.0, 12.0))
            x0 = float(self.rng.uniform(60.0, 100.0))
            s_spawn = self.ego_speed * t + x0
            lane = 3.5 + float(self.rng.uniform(-0.2, 0.2))
            # s(t') = s_spawn - speed * (t' - t): integrate from t' = 0 with the offset folded into s0.
            self.add(
                ObjectClass.CAR, "car_front", self._color(), t, self.duration_s + 1.0,
                s0=s_spawn + speed * t, v0=-speed, accel_events=[], vmin=-speed, vmax=-speed, l0=lane,
                lateral_events=[],
            )  # fmt: skip
            t += float(self.rng.uniform(3.5, 7.0))

    def parked(self) -> None:
        """Cars parked on the right verge along the whole drive."""
        s = float(self.rng.uniform(12.0, 30.0))
        end = self.ego_speed * self.duration_s + RADAR_MAX_RANGE_M
        while s < end:
            self.add(
                ObjectClass.CAR, "car_rear", self._color(), 0.0, self.duration_s + 1.0,
                s0=s, v0=0.0, accel_events=[], vmin=0.0, vmax=0.0, l0=-6.8, lateral_events=[],
            )  # fmt: skip
            s += float(self.rng.uniform(25.0, 60.0))


# The first cycle runs in this order, so even a 20 s drive shows every class; later cycles are shuffled.
EPISODE_KINDS = (
    "motorcycle_crossing",
    "cut_in_brake",
    "bicycle_crossing",
    "animal_crossing",
    "person_crossing",
    "truck_pass",
)


def build_scenario(seed: int, duration_s: float) -> Scenario:
    """The deterministic scenario for (seed, duration)."""
    b = _Builder(seed, duration_s)
    heading = float(b.rng.uniform(0.0, 360.0))
    episodes: list[tuple[float, str]] = [(0.0, "person_crossing_near")]
    order = list(EPISODE_KINDS)
    shuffle = False
    t = EPISODE_S
    while t < duration_s:
        if not order:
            order, shuffle = list(EPISODE_KINDS), True
        pick = order.pop(int(b.rng.integers(len(order))) if shuffle else 0)
        episodes.append((t, pick))
        t += EPISODE_S
    for t0, kind in episodes:
        if kind == "person_crossing_near":
            b.crossing(t0, ObjectClass.PERSON, (0.6, 1.4))
        elif kind.endswith("_crossing"):
            # Most crossings are close (warnings, large in the image); some pass far ahead (no warning).
            near = b.rng.random() < 0.65
            b.crossing(t0, ObjectClass(kind.removesuffix("_crossing")), (0.8, 2.5) if near else (5.0, 9.0))
        elif kind == "cut_in_brake":
            b.cut_in(t0)
        else:
            b.truck_pass(t0)
    b.truck_pass(0.0)
    b.oncoming()
    b.parked()
    billboards = [
        Billboard(1000 + k, 35.0 + 80.0 * k, 7.8, "coffee" if k % 2 == 0 else "rocket")
        for k in range(int((b.ego_speed * duration_s + RADAR_MAX_RANGE_M) // 80.0) + 1)
    ]
    return Scenario(seed, duration_s, b.ego_speed, heading, b.actors, billboards, episodes)
