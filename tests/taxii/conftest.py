"""The conformance suite's fixture: a fresh canal with four orgs, reached over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from taxii_harness import Taxii, build_taxii


@pytest.fixture
def taxii(database_url: str) -> Iterator[Taxii]:
    harness, services = build_taxii(database_url)
    yield harness
    services.close()
