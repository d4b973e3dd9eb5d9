"""Adapters: how the side-by-side harness drives each server (ours, Janus, aiortc, the C floor)."""
