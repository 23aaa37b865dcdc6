"""The OASIS validator (stix2-validator 3.3.2), used by tests to check what canal exports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import stix2validator

EXAMPLES = Path(stix2validator.__file__).parent / "schemas-2.1" / "examples"


def example_bundles() -> list[Path]:
    """The OASIS STIX 2.1 example bundles, shipped with the validator package."""
    return sorted(EXAMPLES.rglob("*.json"))


def validation_errors(bundle: dict[str, Any] | bytes) -> list[str]:
    """Every error (not warning) the validator reports for a bundle; [] when it is valid."""
    text = bundle.decode() if isinstance(bundle, bytes) else orjson.dumps(bundle).decode()
    options = stix2validator.ValidationOptions(version="2.1", silent=True)
    result = stix2validator.validate_string(text, options)
    results = result if isinstance(result, list) else [result]
    errors: list[str] = []
    for item in results:
        for obj in getattr(item, "object_results", None) or [item]:
            errors.extend(f"{getattr(obj, 'object_id', '?')}: {e}" for e in obj.errors)
    return errors
