"""Progress of long jobs (simulate, produce, train, evaluate, replay, bench).

On a terminal: a tqdm bar. Otherwise (logs, CI, a pipe): one plain line every `every_seconds`, so a job that runs
for minutes is never silent. Both go to stderr: a command's JSON result stays alone on stdout's last line."""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType
from typing import TextIO

from tqdm import tqdm


def _columns(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError):
        return 0


class Progress:
    def __init__(self, desc: str, total: int | None = None, unit: str = "records", *, every_seconds: float = 10.0,
                 stream: TextIO | None = None) -> None:
        self.desc, self.total, self.unit, self.every = desc, total, unit, every_seconds
        self.stream = stream or sys.stderr
        self.done = 0
        self.started = self.last = time.monotonic()
        sized = self.stream.isatty() and _columns(self.stream) > 0  # a pty of size 0x0 (e.g. `script`): 100 wide
        self.bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream, dynamic_ncols=sized,
                        ncols=None if sized else 100, nrows=None if sized else 24) if self.stream.isatty() else None

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._line(now)

    def _line(self, now: float) -> None:
        rate = self.done / max(now - self.started, 1e-9)
        of = f" of {self.total:,}" if self.total else ""
        print(f"{self.desc}: {self.done:,}{of} {self.unit} ({rate:,.0f}/s)", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.done:
            self._line(time.monotonic())

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
