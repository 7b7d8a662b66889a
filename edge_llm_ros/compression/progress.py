"""Progress reporting for long steps, decoupled from tqdm so library code stays quiet by default.

A `ProgressFactory` is called as `factory(description, total)` (total 0: unknown) and returns a context manager that
yields an `update(n)` callable. The CLI passes `tqdm_factory`; library callers get `silent`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

Update = Callable[[int], None]
ProgressFactory = Callable[[str, int], AbstractContextManager[Update]]


@contextlib.contextmanager
def silent(description: str, total: int) -> Iterator[Update]:
    """No output."""
    del description, total
    yield lambda n: None


def tqdm_factory(enabled: bool = True, unit: str = "crop") -> ProgressFactory:
    """Progress bars on stderr (tqdm); `enabled=False` gives `silent`."""
    if not enabled:
        return silent

    @contextlib.contextmanager
    def factory(description: str, total: int) -> Iterator[Update]:
        from tqdm import tqdm

        with tqdm(total=total or None, desc=description, unit=unit, leave=False, dynamic_ncols=True) as bar:
            yield bar.update

    return factory
