"""A schemathesis run over every operation of /openapi.json, in process against the ASGI app,
with a real token and some data: no answer is a 500 (invariant 5)."""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from canal.accounts.service import LOCAL_ADMIN
from canal.exchange.taxii import COLLECTIONS
from canal.model.org import OrgKind, Role
from canal.web.app import create_app
from factories import add_org, indicator, malware

T21 = "application/taxii+json;version=2.1"
EXAMPLES_PER_OPERATION = 25
#: Statuses seen, by operation (also rotates the collection ids used).
STATS: list[tuple[str, int]] = []


def _fuzz(operation, headers, failures):
    @hypothesis.given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        params = case.path_parameters or {}
        if "collection_id" in params:
            # Random ids only reach the 404; most cases go to a real collection.
            choice = len(STATS) % (len(COLLECTIONS) + 1)
            if choice < len(COLLECTIONS):
                params["collection_id"] = COLLECTIONS[choice].id
        try:
            response = case.call(headers=headers)
        except Exception as exc:  # noqa: BLE001 - the app raised: a 500 to the client
            failures.append(f"{operation.label}: {case.formatted_path} raised {exc!r}")
            return
        STATS.append((operation.label, response.status_code))
        if response.status_code >= 500:
            failures.append(
                f"{operation.label}: {case.formatted_path} {response.status_code} "
                f"{response.text[:200]}"
            )

    run()


@pytest.mark.slow
def test_no_operation_answers_500(sqlite_services):
    services = sqlite_services
    paris = add_org(services)
    add_org(services, "Acme Threat Labs", kind=OrgKind.PARTNER)
    services.ingest.ingest_objects(
        [indicator(), malware(), indicator("203.0.113.5")], principal=LOCAL_ADMIN, source=paris
    )
    token = services.accounts.create_token(LOCAL_ADMIN, org=paris, role=Role.MEMBER).token
    app = create_app(services)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {token}", "Accept": T21 + ", application/json"}
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20

    for operation in operations:
        _fuzz(operation, headers, failures)
    assert failures == []
    # The run reached past authentication and content negotiation into the handlers.
    assert sum(1 for _, status in STATS if status in {200, 202}) > 100
