"""Datasets and the one LightningDataModule that serves them all.

The registry (``maskaae_cli.data.registry``) imports neither torch nor Lightning: the data module is
imported on first use, so the command line can read the registry for its help at no cost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from maskaae_cli.data.datamodule import MaskAAEDataModule

__all__ = ["MaskAAEDataModule"]


def __getattr__(name: str) -> Any:
    if name == "MaskAAEDataModule":
        from maskaae_cli.data.datamodule import MaskAAEDataModule

        return MaskAAEDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
