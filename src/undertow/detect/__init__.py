"""Detectors: each turns a batch of records into signals, with no I/O of its own."""
