"""Stages after ingest, each incremental (a watermark per stage) and runnable alone or in `run`."""
