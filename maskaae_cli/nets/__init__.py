"""Encoder, decoder and critic networks, chosen by data shape."""

from maskaae_cli.nets.factory import build_nets

__all__ = ["build_nets"]
