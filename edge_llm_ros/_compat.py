"""Standard-library names that arrived in Python 3.11, for Humble's Python 3.10.

ROS 2 Humble runs on Ubuntu 22.04, whose Python is 3.10: `enum.StrEnum` and `datetime.UTC`
are 3.11 additions, so every module takes them from here. (`typing.Self` is only ever used in
annotations, which `from __future__ import annotations` keeps unevaluated; those modules import
it from typing_extensions under TYPE_CHECKING.)
"""

from __future__ import annotations

import datetime
import enum
import sys

__all__ = ["UTC", "StrEnum"]

UTC = datetime.timezone.utc

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:

    class StrEnum(str, enum.Enum):
        """A str whose members compare, hash, format and print as their value (enum.StrEnum of 3.11)."""

        def __str__(self) -> str:
            return str(self.value)

        def __format__(self, format_spec: str) -> str:
            return str(self.value).__format__(format_spec)

        @staticmethod
        def _generate_next_value_(name: str, start: int, count: int, last_values: list[object]) -> str:
            return name.lower()
