"""A benchmark's classifier feature space on disk: a TorchScript extractor and its classifier.json.

The CIFAR-10 and Fashion-MNIST benchmarks each train a classifier once and keep its penultimate layer
as ``--features FILE``; the record beside it says what it was trained on and how well it classifies.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from maskaae_cli.metrics.features import file_sha256


def saved_record(features: Path, matches: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
    """The record beside ``features`` when both are there, the record ``matches`` and the file is the one
    it describes (same sha256); else None (train again)."""
    record_file = features.parent / "classifier.json"
    if not (record_file.is_file() and features.is_file()):
        return None
    record = json.loads(record_file.read_text())
    return record if matches(record) and record.get("file_sha256") == file_sha256(features) else None


def save(extractor: torch.nn.Module, features: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Save ``extractor`` as TorchScript to ``features`` and ``record`` (with the file's name and sha256)
    beside it as classifier.json; returns that record."""
    features.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(torch.jit.script(extractor), str(features))
    record = {**record, "file": features.name, "file_sha256": file_sha256(features)}
    (features.parent / "classifier.json").write_text(json.dumps(record, indent=2) + "\n")
    return record
