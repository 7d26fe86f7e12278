"""The synthetic bank in the backtest's open input format (services/backtest/history.py): one JSON-lines file of
profiles, transactions in time order and fraud labels, in the standard protobuf JSON mapping, so the backtest can be
checked against the evaluations that know the simulator's ground truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from services.simulator import events
from services.simulator.bank import Bank
from services.simulator.truth import handbook_records


def export_history(bank: Bank, path: Path) -> dict[str, Any]:
    """Write `path` (JSON lines); returns how many rows of each type."""
    counts = {"profile": 0, "transaction": 0, "fraud_label": 0}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for profile in events.profiles(bank):
            out.write(json.dumps({"type": "profile", **json_format.MessageToDict(profile)}) + "\n")
            counts["profile"] += 1
        for tx in events.transactions(bank):
            out.write(json.dumps({"type": "transaction", **json_format.MessageToDict(tx)}) + "\n")
            counts["transaction"] += 1
        for record in handbook_records(bank.handbook):
            if record["type"] == "fraud":
                out.write(json.dumps({"type": "fraud_label", "transaction_id": record["transaction_id"],
                                      "fraud": True}) + "\n")
                counts["fraud_label"] += 1
    return {"path": str(path), **counts}
