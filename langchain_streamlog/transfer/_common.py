"""What export, import and migration share: the progress callback, page and batch sizes."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int], None]

_PAGE = 500  # session ids and events read per round trip
_BATCH_EVENTS = 500  # smallest batch an import or migration appends at once
_PROGRESS_EVERY = 1000
