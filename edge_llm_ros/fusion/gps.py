"""GPS track: latest fix plus speed and heading from consecutive fixes (NavSatFix has no velocity)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class GpsFix:
    """One accepted sensor_msgs/NavSatFix."""

    stamp_ns: int
    latitude: float
    longitude: float
    altitude: float
    status: int


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial bearing from fix 1 to fix 2, degrees clockwise from north."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return (math.degrees(math.atan2(x, y)) + 360.0) % 360.0


class GpsTrack:
    """The last few fixes."""

    def __init__(self, history: int = 8) -> None:
        self._fixes: deque[GpsFix] = deque(maxlen=history)

    def add(self, stamp_ns: int, latitude: float, longitude: float, altitude: float, status: int) -> None:
        """Append a fix (caller has validated it)."""
        self._fixes.append(GpsFix(stamp_ns, latitude, longitude, altitude, status))

    def latest(self) -> GpsFix | None:
        """The newest fix, if any."""
        return self._fixes[-1] if self._fixes else None

    def velocity(self) -> tuple[float | None, float | None]:
        """(speed m/s, heading deg) from the oldest and newest fix; None until two fixes exist."""
        if len(self._fixes) < 2:
            return None, None
        a, b = self._fixes[0], self._fixes[-1]
        dt = (b.stamp_ns - a.stamp_ns) / 1e9
        if dt <= 0:
            return None, None
        dist = haversine_m(a.latitude, a.longitude, b.latitude, b.longitude)
        heading = bearing_deg(a.latitude, a.longitude, b.latitude, b.longitude) if dist > 0.05 else None
        return dist / dt, heading
