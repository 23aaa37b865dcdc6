"""Orgs, principals and API tokens."""
