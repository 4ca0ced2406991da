"""Prefect flows of the whaledr pipeline: thin wiring around whaledr_core."""
