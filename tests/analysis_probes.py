"""Leak probes for the correlation routes (used by tests/functional/test_leaks.py): lookups,
clusters, alerts, Bloom filters and local lists never tell a caller about a record it may not
see, and answer about a record the source denied it exactly as about one that does not exist."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from canal.analysis.blind import blind
from canal.analysis.bloom import BloomFilter

NEVER_SEEN = "91.206.0.1"


def _no_trace(w: Any, response: Any, hidden: list[str]) -> None:
    text = (
        response.text
        if response.headers.get("content-type", "").startswith("application/json")
        else ""
    )
    for stix_id in hidden:
        assert stix_id not in text, (response.request.url, stix_id)
        assert w.markers[stix_id] not in text, (response.request.url, w.markers[stix_id])
    assert response.status_code < 500, response.text


def _denied(w: Any, client: Any, hidden: list[str]) -> list[str]:
    """The hidden records whose source denied the caller outright (it must see no hit)."""
    me = client.get("/api/v1/me").json()
    out = []
    for stix_id in hidden:
        marker = w.markers[stix_id]
        if (marker == "MARK-DENY-IT" and me.get("country") == "IT") or (
            marker == "MARK-DENY-GS" and me.get("org") == "Secretariat"
        ):
            out.append(stix_id)
    return out


def probe_lookup(w: Any, client: Any, hidden: list[str]) -> None:
    values = [w.values[s] for s in hidden]
    response = client.post("/api/v1/lookup", content=orjson.dumps({"values": values}))
    _no_trace(w, response, hidden)
    if response.status_code != 200:
        return
    for stix_id in _denied(w, client, hidden):
        value = w.values[stix_id]
        denied = client.post("/api/v1/lookup", content=orjson.dumps({"values": [value]}))
        absent = client.post("/api/v1/lookup", content=orjson.dumps({"values": [NEVER_SEEN]}))
        assert denied.text.replace(value, NEVER_SEEN) == absent.text


def probe_blind(w: Any, client: Any, hidden: list[str]) -> None:
    elements = [blind(f"ipv4:{w.values[s]}")[1].hex() for s in hidden]
    _no_trace(
        w, client.post("/api/v1/lookup/blind", content=orjson.dumps({"elements": elements})), hidden
    )


def probe_clusters(w: Any, client: Any, hidden: list[str]) -> None:
    _no_trace(w, client.get("/api/v1/clusters"), hidden)


def probe_cluster(w: Any, client: Any, hidden: list[str]) -> None:
    absent = "indicator--00000000-0000-4000-8000-00000000abcd"
    for stix_id in hidden:
        restricted = client.get(f"/api/v1/clusters/{stix_id}")
        nothing = client.get(f"/api/v1/clusters/{absent}")
        assert restricted.status_code == nothing.status_code
        assert restricted.text.replace(stix_id, absent) == nothing.text


def probe_alerts(w: Any, client: Any, hidden: list[str]) -> None:
    _no_trace(w, client.get("/api/v1/alerts"), hidden)


def probe_alert_channels(w: Any, client: Any, hidden: list[str]) -> None:
    """An org's alert channels name no record; reading, setting and clearing them (each
    caller its own org's) shows nothing of another's data."""
    _no_trace(w, client.get("/api/v1/alerts/channels"), hidden)
    _no_trace(w, client.put("/api/v1/alerts/channels", json={"email": "probe@example.org"}), hidden)
    _no_trace(w, client.delete("/api/v1/alerts/channels"), hidden)


def probe_bloom(w: Any, client: Any, hidden: list[str]) -> None:
    response = client.get("/api/v1/bloom?fp_rate=0.000001")
    _no_trace(w, response, hidden)
    if response.status_code == 200:
        found = BloomFilter.from_bytes(response.content)
        for stix_id in hidden:
            assert not found.might_contain(f"ipv4:{w.values[stix_id]}"), w.markers[stix_id]


def probe_rotate(w: Any, client: Any, hidden: list[str]) -> None:
    _no_trace(w, client.post("/api/v1/bloom/rotate", json={"org": "Acme Threat Labs"}), hidden)


def probe_local_lists(w: Any, client: Any, hidden: list[str]) -> None:
    _no_trace(w, client.get("/api/v1/local-lists"), hidden)
    added = client.post(
        "/api/v1/local-lists",
        json={"list": "deny", "value": w.values[hidden[0]] if hidden else NEVER_SEEN},
    )
    _no_trace(w, added, hidden)
    _no_trace(w, client.delete("/api/v1/local-lists/deny/ipv4:" + NEVER_SEEN), hidden)


PROBES: dict[tuple[str, str], Callable[[Any, Any, list[str]], None]] = {
    ("POST", "/api/v1/lookup"): probe_lookup,
    ("POST", "/api/v1/lookup/blind"): probe_blind,
    ("GET", "/api/v1/clusters"): probe_clusters,
    ("GET", "/api/v1/clusters/{cluster_id}"): probe_cluster,
    ("GET", "/api/v1/alerts"): probe_alerts,
    ("GET", "/api/v1/alerts/channels"): probe_alert_channels,
    ("PUT", "/api/v1/alerts/channels"): probe_alert_channels,
    ("DELETE", "/api/v1/alerts/channels"): probe_alert_channels,
    ("GET", "/api/v1/bloom"): probe_bloom,
    ("POST", "/api/v1/bloom/rotate"): probe_rotate,
    ("GET", "/api/v1/local-lists"): probe_local_lists,
    ("POST", "/api/v1/local-lists"): probe_local_lists,
    ("DELETE", "/api/v1/local-lists/{kind}/{key}"): probe_local_lists,
}
