"""Datasets and the one LightningDataModule that serves them all."""

from maskaae_cli.data.datamodule import MaskAAEDataModule

__all__ = ["MaskAAEDataModule"]
