"""The model directory's roles (I/O): which saved version is the champion (`LATEST`, what serves), the challenger
(`CHALLENGER`, scored in shadow beside it) and the previous champion (`PREVIOUS`, what `fraud rollback` restores).

Each role is a one-line file naming a version, replaced atomically (write, then rename), so a live worker reading
it sees the old name or the new one, never half of one. Changes are made under a lock file and appended to
`lifecycle.jsonl` (what happened, when, which versions), which a live worker reads to tell a promotion from a
rollback. Reports of retraining are written under `reports/`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from services.fraud.model import LATEST_FILE, FraudModel, ModelArtifactError, load_model, save_model
from services.platform.clock import utc_now

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"
_FILES = {CHAMPION: LATEST_FILE, CHALLENGER: "CHALLENGER", PREVIOUS: "PREVIOUS"}
EVENTS_FILE = "lifecycle.jsonl"
PROMOTED, ROLLED_BACK, SHADOWED = "promoted", "rolled_back", "challenger_installed"


def version_of(directory: Path, role: str) -> str | None:
    """The version holding `role`, or None."""
    try:
        name = (directory / _FILES[role]).read_text().strip()
    except FileNotFoundError:
        return None
    return name or None


def load_role(directory: Path, role: str) -> FraudModel | None:
    version = version_of(directory, role)
    return None if version is None else load_model(directory / f"{version}.skops")


def save_challenger(model: FraudModel, directory: Path) -> FraudModel:
    """Save a new model under a version no other file has (a suffix when two retrains share a second); it holds
    no role yet."""
    version, n = model.version, 1
    while (directory / f"{version}.skops").exists():
        n += 1
        version = f"{model.version}-{n}"
    if version != model.version:
        model = FraudModel(model.estimator, dataclasses.replace(model.card, version=version))
    save_model(model, directory, latest=False)
    return model


def install_challenger(directory: Path, version: str, report: str = "") -> None:
    with _locked(directory):
        _set(directory, CHALLENGER, version)
        _log(directory, SHADOWED, challenger=version, report=report)


def promote(directory: Path, version: str, report: str = "") -> str | None:
    """`version` becomes the champion; the champion it replaces becomes the previous one (returned); an older
    challenger in shadow is dropped (the promoted one supersedes it)."""
    with _locked(directory):
        previous = version_of(directory, CHAMPION)
        if previous is not None and previous != version:
            _set(directory, PREVIOUS, previous)
        _set(directory, CHAMPION, version)
        _set(directory, CHALLENGER, None)
        _log(directory, PROMOTED, champion=version, previous=previous, report=report)
        return previous


def rollback(directory: Path) -> tuple[str, str]:
    """The previous champion serves again; the one it replaces becomes the previous one (so a rollback can be
    undone the same way) and no challenger stays in shadow. Returns (restored, replaced)."""
    with _locked(directory):
        previous, current = version_of(directory, PREVIOUS), version_of(directory, CHAMPION)
        if previous is None or current is None:
            raise ModelArtifactError(f"nothing to roll back to in {directory}: no previous champion")
        load_model(directory / f"{previous}.skops")  # it must still load (digest, trusted types)
        _set(directory, CHAMPION, previous)
        _set(directory, PREVIOUS, current)
        _set(directory, CHALLENGER, None)
        _log(directory, ROLLED_BACK, champion=previous, previous=current)
        return previous, current


def last_event(directory: Path, champion: str) -> str | None:
    """The latest lifecycle event that made `champion` the champion (PROMOTED or ROLLED_BACK), if logged."""
    try:
        lines = (directory / EVENTS_FILE).read_text().splitlines()
    except FileNotFoundError:
        return None
    for line in reversed(lines):
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if event.get("champion") == champion and event.get("event") in (PROMOTED, ROLLED_BACK):
                return str(event["event"])
    return None


def write_report(directory: Path, version: str, report: dict[str, Any]) -> Path:
    path = directory / "reports" / f"{version}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, json.dumps(report, indent=2, sort_keys=True) + "\n")
    return path


def _set(directory: Path, role: str, version: str | None) -> None:
    path = directory / _FILES[role]
    if version is None:
        path.unlink(missing_ok=True)
    else:
        _write_atomic(path, version + "\n")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _log(directory: Path, event: str, **fields: Any) -> None:
    entry = {"at": utc_now().isoformat(timespec="seconds"), "event": event, **fields}
    with open(directory / EVENTS_FILE, "a") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One role change at a time (a scheduled job and an operator's command on the same directory)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lifecycle.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
