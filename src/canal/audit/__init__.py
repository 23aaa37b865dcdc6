"""The processing log: verification of its hash chain, and reading it as a principal may."""
