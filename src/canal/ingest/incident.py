"""The ingest check of canal's ransomware-incident extension (R28).

An object carrying the extension must be an incident and its body must pass
`incident_problems`, wallet checksums included; otherwise the object is rejected with every
bad field named.
"""

from __future__ import annotations

from typing import Any

from canal.analysis.observables import NormaliseError, ObservableType, normalise
from canal.model.ransomware import RANSOMWARE_EXTENSION_ID, incident_problems


def wallet_problem(chain: str, address: str) -> str | None:
    """None when canal reads `address` as a wallet on `chain`, else why not (a bad checksum).
    Chains canal has no check for pass as named (docs/observables.md)."""
    try:
        normalise(ObservableType.WALLET, f"{chain}:{address}")
    except NormaliseError as exc:
        return exc.reason
    return None


def ransomware_rejection(obj: dict[str, Any]) -> str | None:
    """Why `obj` must be refused for its ransomware extension, or None."""
    extensions = obj.get("extensions")
    if type(extensions) is not dict or RANSOMWARE_EXTENSION_ID not in extensions:
        return None
    where = f"extensions.{RANSOMWARE_EXTENSION_ID}"
    if obj.get("type") != "incident":
        return f"{where}: the ransomware extension belongs on an incident"
    problems = incident_problems(extensions[RANSOMWARE_EXTENSION_ID], wallet_check=wallet_problem)
    if not problems:
        return None
    return f"{where}: " + "; ".join(problems)
