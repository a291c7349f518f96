"""Read an offline W&B run's transaction log (run-ID.wandb) without wandb's servers.

The file is a LevelDB-style log: a 7-byte header (b":W&B", magic, version), then 32 KiB
blocks of chunks, each with a 7-byte header (crc32, length, type: full/first/middle/last)
around a serialised ``wandb_internal_pb2.Record``.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path

from wandb.proto import wandb_internal_pb2

BLOCK = 32 * 1024
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> Iterator[wandb_internal_pb2.Record]:
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    pos, parts = HEADER, b""
    while pos + HEADER <= len(data):
        if BLOCK - pos % BLOCK < HEADER:  # block trailer: padding
            pos += BLOCK - pos % BLOCK
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        chunk = data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(parts + chunk)
            parts = b""
            yield record
        elif kind in (FIRST, MIDDLE):
            parts += chunk
        elif kind == 0 and length == 0:
            break


def history(path: Path) -> list[dict]:
    """Every wandb.log call of the run, as {key: value}."""
    rows = []
    for record in records(path):
        if record.WhichOneof("record_type") == "history":
            rows.append({(item.key or "/".join(item.nested_key)): json.loads(item.value_json)
                         for item in record.history.item})
    return rows


def run_info(path: Path) -> dict:
    """The run record's id, project, tags and config (``config`` keys as wandb stores them)."""
    info: dict = {"config": {}}
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            info |= {"id": record.run.run_id, "project": record.run.project,
                     "tags": list(record.run.tags), "name": record.run.display_name}
            for item in record.run.config.update:
                info["config"][item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
        elif kind == "config":
            for item in record.config.update:
                info["config"][item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
    return info
