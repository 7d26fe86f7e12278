"""Command-line tools the operations tests run; `make tools` installs them (Debian's prometheus package for
promtool, kustomize through the Go module proxy into .venv/bin)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest


def tool(name: str) -> str:
    found = shutil.which(name, path=f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin")
    if found is None:
        pytest.skip(f"{name} is not installed and `make tools` could not install it on this machine")
    return found
