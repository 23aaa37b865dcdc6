"""Ingest: parse, validate, normalise, store."""
