"""The 24/7 network end to end through the REST API: the directory, a request's life from filing
to the post-event package, the figures, and the clear 4xx each kind of bad input gets (with the
request left as it was)."""

from __future__ import annotations

import time
from datetime import timedelta

import orjson
import pytest
from fastapi.testclient import TestClient

from assist_support import (
    SECRET_IT_BACKUP,
    T0,
    add_countries,
    assist_services,
    contact_body,
    emergency_body,
    http_receiver,
    preservation_body,
    signature_ok,
)
from canal.accounts.service import LOCAL_ADMIN
from canal.clock import FixedClock
from canal.model.extension import CANAL_EXTENSION_ID
from canal.model.org import Role
from canal.web.app import create_app
from factories import CREATED, indicator, stix_id
from stix_validation import validation_errors


class World:
    def __init__(self, services, countries, clock):
        self.services = services
        self.c = countries
        self.clock = clock
        self.app = create_app(services)

    def client(self, country, role=Role.DUTY_OFFICER):
        client = TestClient(self.app, raise_server_exceptions=False)
        client.headers["Authorization"] = f"Bearer {self.c.tokens[country, role]}"
        return client


@pytest.fixture
def world(database_url):
    clock = FixedClock(T0)
    services = assist_services(database_url, clock)
    yield World(services, add_countries(services), clock)
    services.close()


def assert_error(response, status, *needles):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    for needle in needles:
        assert needle in body["error"]["message"], body["error"]["message"]


def ext(**handling):
    return {CANAL_EXTENSION_ID: {"extension_type": "property-extension", **handling}}


def sdo(kind, **props):
    obj = {
        "type": kind,
        "spec_version": "2.1",
        "id": stix_id(kind),
        "created": CREATED,
        "modified": CREATED,
    }
    obj.update(props)
    return obj


def relationship(kind, source, target, **props):
    return sdo(
        "relationship",
        relationship_type=kind,
        source_ref=source["id"],
        target_ref=target["id"],
        **props,
    )


def incident_world(w):
    """France's hospital incident, what links it, and records France must not see."""
    paris = w.services.accounts.org("NCB Paris")
    rome = w.services.accounts.org("NCB Rome")
    victim = sdo("identity", name="Hopital Saint-Exemple", identity_class="organization")
    campaign = sdo("campaign", name="LockBit wave, spring 2026")
    incident = sdo("incident", name="LockBit attack on a hospital in FR")
    earlier = sdo("incident", name="LockBit attack on a clinic in FR")
    c2 = indicator("203.0.113.7", name="LockBit C2 203.0.113.7")
    hidden = indicator("198.51.100.99", name="MARK-HIDDEN-FROM-FR", extensions=ext(deny=["FR"]))
    france = [
        victim,
        campaign,
        incident,
        earlier,
        c2,
        relationship("targets", incident, victim),
        relationship("attributed-to", incident, campaign),
        relationship("attributed-to", earlier, campaign),
        sdo("sighting", sighting_of_ref=c2["id"], where_sighted_refs=[victim["id"]]),
    ]
    italy = [
        hidden,
        sdo(
            "sighting",
            sighting_of_ref=hidden["id"],
            where_sighted_refs=[victim["id"]],
            extensions=ext(deny=["FR"]),
        ),
        # Visible to France, but it points at what France may not see.
        relationship("indicates", hidden, incident, description="MARK-EDGE"),
    ]
    for org, objects in ((paris, france), (rome, italy)):
        report = w.services.ingest.ingest_objects(objects, principal=LOCAL_ADMIN, source=org)
        assert report.rejected == [], report.rejected
    return {"incident": incident, "earlier": earlier, "c2": c2, "hidden": hidden, "victim": victim}


# -- the directory ----------------------------------------------------------------------------


def test_the_ncb_administrator_keeps_its_countrys_contacts(world):
    it_admin = world.client("IT", Role.NCB_ADMIN)
    body = contact_body(webhook_url="https://ncb.example.it/hook", webhook_secret=SECRET_IT_BACKUP)
    saved = it_admin.put("/api/v1/contacts/it/primary", json=body)
    assert saved.status_code == 200, saved.text
    assert saved.json()["phone"] == "+390646861234"
    assert saved.json()["webhook_url"] == "https://ncb.example.it/hook"
    assert SECRET_IT_BACKUP not in saved.text
    # Others read the directory, without the endpoint or the key.
    listed = world.client("FR", Role.MEMBER).get("/api/v1/contacts?country=IT").json()["items"]
    assert listed[0]["webhook"] is True
    assert "webhook_url" not in listed[0]
    assert SECRET_IT_BACKUP not in str(listed)

    assert_error(
        world.client("FR", Role.NCB_ADMIN).put("/api/v1/contacts/IT/backup", json=body),
        403,
        "NCB administrator",
    )
    assert_error(world.client("IT", Role.MEMBER).put("/api/v1/contacts/IT/backup", json=body), 403)
    assert_error(world.client("ACME", Role.PARTNER).get("/api/v1/contacts"), 403)
    assert_error(world.client("GS", Role.AUDITOR).get("/api/v1/contacts"), 403)
    assert_error(it_admin.put("/api/v1/contacts/IT/tertiary", json=body), 400, "slot")
    assert_error(it_admin.put("/api/v1/contacts/ZZ/primary", json=body), 400, "ISO 3166")
    assert_error(
        it_admin.put("/api/v1/contacts/ES/primary", json=body), 400, "no member country ES"
    )
    assert_error(
        it_admin.put("/api/v1/contacts/IT/backup", json=contact_body(phone="12")), 400, "phone"
    )
    assert_error(
        it_admin.put("/api/v1/contacts/IT/backup", json=contact_body(phone=None)), 400, "phone"
    )
    assert_error(
        it_admin.put(
            "/api/v1/contacts/IT/backup", json=contact_body(webhook_url="https://x.example/h")
        ),
        400,
        "webhook_secret",
    )
    assert_error(
        it_admin.put("/api/v1/contacts/IT/backup", json=contact_body(languages=["xx"])),
        400,
        "ISO 639-1",
    )
    assert_error(it_admin.put("/api/v1/contacts/IT/backup", json=[1]), 400, "JSON object")
    # Updating without repeating the key keeps it.
    again = it_admin.put(
        "/api/v1/contacts/IT/primary", json=contact_body(webhook_url="https://ncb.example.it/hook")
    )
    assert again.status_code == 200, again.text


def test_the_directory_reports_member_countries_without_an_active_contact(world):
    it_admin = world.client("IT", Role.NCB_ADMIN)
    analyst = world.client("GS", Role.ANALYST)
    missing = analyst.get("/api/v1/contacts/missing").json()["items"]
    assert [m["country"] for m in missing] == ["DE", "FR", "IT"]
    it_admin.put("/api/v1/contacts/IT/primary", json=contact_body())
    assert [m["country"] for m in analyst.get("/api/v1/contacts/missing").json()["items"]] == [
        "DE",
        "FR",
    ]
    it_admin.put("/api/v1/contacts/IT/primary", json=contact_body(active=False))
    missing = analyst.get("/api/v1/contacts/missing").json()["items"]
    assert {
        "country": "IT",
        "orgs": ["NCB Rome"],
        "problem": "every contact is inactive",
    } in missing
    assert it_admin.delete("/api/v1/contacts/IT/primary").status_code == 200
    assert_error(it_admin.delete("/api/v1/contacts/IT/primary"), 404)
    assert [m["problem"] for m in missing if m["country"] == "DE"] == ["no contact"]


# -- a request's life -------------------------------------------------------------------------


def test_emergency_request_end_to_end_to_the_post_event_package(world):
    records = incident_world(world)
    incident_id = records["incident"]["id"]
    with http_receiver() as backup_hook:
        world.client("IT", Role.NCB_ADMIN).put("/api/v1/contacts/IT/primary", json=contact_body())
        world.client("IT", Role.NCB_ADMIN).put(
            "/api/v1/contacts/IT/backup",
            json=contact_body(
                name="Backup duty officer",
                phone="+39 333 000 0001",
                webhook_url=backup_hook.url(),
                webhook_secret=SECRET_IT_BACKUP,
            ),
        )
        fr = world.client("FR", Role.MEMBER)
        it = world.client("IT", Role.DUTY_OFFICER)

        # France files an emergency request to Italy about the incident.
        filed = fr.post(
            "/api/v1/requests", json=emergency_body(links=[incident_id, records["c2"]["id"]])
        )
        assert filed.status_code == 201, filed.text
        request = filed.json()
        request_id = request["id"]
        assert request["state"] == "submitted"
        assert request["deadlines"]["acknowledge_by"] == "2026-03-02T10:00:00.000000Z"
        assert request["deadlines"]["respond_by"] == "2026-03-02T17:00:00.000000Z"
        assert request["links_hidden_from_requested_country"] == []
        assert [n["kind"] for n in it.get("/api/v1/notifications").json()["items"]] == [
            "new-request"
        ]

        # Nobody acknowledges: an hour later the sweep pages the backup contact.
        world.clock.set(T0 + timedelta(hours=1, minutes=1))
        report = world.services.assist.sweep()
        assert report.escalations == 1
        assert report.delivery.sent == 1
        [page] = backup_hook.received()
        assert page.headers["X-Canal-Event"] == "escalation"
        assert signature_ok(page, SECRET_IT_BACKUP)
        assert orjson.loads(page.body)["request"]["id"] == request_id

    seen = it.get(f"/api/v1/requests/{request_id}").json()
    assert seen["escalation"]["level"] == 1
    assert seen["overdue"]["acknowledgement"] is True
    assert "acknowledged" in seen["next_states"]
    assert [link["id"] for link in seen["links"]] == sorted([incident_id, records["c2"]["id"]])
    assert seen["content"]["facts"].startswith("Patient systems")

    # Italy acknowledges and answers.
    world.clock.set(T0 + timedelta(hours=1, minutes=15))
    acked = it.post(
        f"/api/v1/requests/{request_id}/transitions",
        json={"to": "acknowledged", "reason": "backup duty officer on it"},
    )
    assert acked.status_code == 200, acked.text
    world.clock.set(T0 + timedelta(hours=2))
    it.post(f"/api/v1/requests/{request_id}/transitions", json={"to": "in-progress"})
    world.clock.set(T0 + timedelta(hours=4))
    answered = it.post(
        f"/api/v1/requests/{request_id}/transitions",
        json={
            "to": "executed",
            "answer": "Hosting provider disclosed the subscriber; server seized",
        },
    )
    assert answered.json()["state"] == "executed"
    answers = [
        n
        for n in fr.get("/api/v1/notifications?unread=true").json()["items"]
        if n["kind"] == "answer"
    ]
    assert len(answers) == 1
    assert fr.post(f"/api/v1/notifications/{answers[0]['id']}/read").status_code == 200
    assert [
        n
        for n in fr.get("/api/v1/notifications?unread=true").json()["items"]
        if n["kind"] == "answer"
    ] == []

    # France closes it, and a preservation request about the same incident stays open.
    closed = fr.post(
        f"/api/v1/requests/{request_id}/transitions", json={"to": "closed", "reason": "thanks"}
    )
    assert closed.json()["state"] == "closed"
    preservation = fr.post("/api/v1/requests", json=preservation_body(links=[incident_id]))
    assert preservation.status_code == 201, preservation.text

    # The incident is closed by its source; France gets the post-event package.
    assert_error(fr.get(f"/api/v1/incidents/{incident_id}/package"), 409, "not closed")
    assert_error(it.post(f"/api/v1/incidents/{incident_id}/close", json={}), 403, "source")
    shut = fr.post(
        f"/api/v1/incidents/{incident_id}/close", json={"note": "hospital systems restored"}
    )
    assert shut.status_code == 200, shut.text
    assert_error(fr.post(f"/api/v1/incidents/{incident_id}/close", json={}), 409, "already closed")

    response = fr.get(f"/api/v1/incidents/{incident_id}/package")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/stix+json")
    bundle = response.json()
    assert validation_errors(bundle) == []
    by_id = {o["id"]: o for o in bundle["objects"]}
    assert incident_id in by_id
    assert records["c2"]["id"] in by_id  # an indicator France may see
    assert records["earlier"]["id"] in by_id  # a related incident (same campaign)
    assert records["hidden"]["id"] not in response.text  # never what France may not see
    assert "MARK-HIDDEN-FROM-FR" not in response.text
    assert "MARK-EDGE" not in response.text  # nor a relationship pointing at it
    notes = [o for o in bundle["objects"] if o["type"] == "note"]
    timeline = next(n for n in notes if n["abstract"].startswith("Timeline"))["content"]
    for step in (
        "escalation",
        "submitted -> acknowledged",
        "in-progress -> executed",
        "executed -> closed",
        "incident closed",
    ):
        assert step in timeline, step
    answered_note = next(n for n in notes if request_id in n["abstract"])
    assert "server seized" in answered_note["content"]
    [report_obj] = [o for o in bundle["objects"] if o["type"] == "report"]
    assert "1 open request(s)" in report_obj["description"]
    assert set(report_obj["object_refs"]) <= set(by_id)

    html = fr.get(f"/api/v1/incidents/{incident_id}/package?format=html")
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    for text in (
        "Timeline",
        "escalation",
        "server seized",
        "LockBit attack on a clinic in FR",
        "preservation to IT",
    ):
        assert text in html.text, text
    assert "MARK-HIDDEN-FROM-FR" not in html.text
    assert_error(fr.get(f"/api/v1/incidents/{incident_id}/package?format=pdf"), 400, "stix or html")
    # Germany asked nothing about it: no package.
    assert_error(
        world.client("DE", Role.MEMBER).get(f"/api/v1/incidents/{incident_id}/package"), 403
    )
    assert world.services.audit.verify().ok


def test_the_requested_country_sees_linked_records_only_as_their_handling_allows(world):
    records = incident_world(world)
    it = world.client("IT")
    fr = world.client("FR", Role.MEMBER)
    paris = world.services.accounts.org("NCB Paris")
    secret = indicator("192.0.2.44", name="MARK-FR-ONLY", extensions=ext(deny=["IT"]))
    world.services.ingest.ingest_objects([secret], principal=LOCAL_ADMIN, source=paris)
    filed = fr.post(
        "/api/v1/requests",
        json=emergency_body(links=[records["incident"]["id"], secret["id"]]),
    ).json()
    assert filed["links_hidden_from_requested_country"] == [secret["id"]]
    seen = it.get(f"/api/v1/requests/{filed['id']}")
    assert secret["id"] not in seen.text
    assert "MARK-FR-ONLY" not in seen.text
    assert [link["id"] for link in seen.json()["links"]] == [records["incident"]["id"]]
    # France cannot link what it may not see: answered as if it did not exist.
    absent = "indicator--00000000-0000-4000-8000-00000000abcd"
    hidden = fr.post("/api/v1/requests", json=emergency_body(links=[records["hidden"]["id"]]))
    missing = fr.post("/api/v1/requests", json=emergency_body(links=[absent]))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.text.replace(records["hidden"]["id"], absent) == missing.text
    # The secretariat sees the envelope of a direct exchange, not its content or links.
    envelope = world.client("GS", Role.ANALYST).get(f"/api/v1/requests/{filed['id']}").json()
    assert envelope["view"] == "envelope"
    assert "content" not in envelope
    assert "links" not in envelope
    shared = fr.post("/api/v1/requests", json=emergency_body(share_with_secretariat=True)).json()
    assert (
        world.client("GS", Role.ANALYST).get(f"/api/v1/requests/{shared['id']}").json()["view"]
        == "full"
    )


def test_the_request_inherits_the_markings_of_its_links(world):
    paris = world.services.accounts.org("NCB Paris")
    red = indicator(
        object_marking_refs=["marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"],
        extensions=ext(allow=["IT"]),
    )
    world.services.ingest.ingest_objects([red], principal=LOCAL_ADMIN, source=paris)
    fr = world.client("FR", Role.MEMBER)
    filed = fr.post("/api/v1/requests", json=emergency_body(links=[red["id"]]))
    assert filed.json()["tlp"] == "TLP:RED"
    assert_error(
        fr.post("/api/v1/requests", json=emergency_body(links=[red["id"]], tlp="green")),
        400,
        "tlp",
        "TLP:RED",
    )


def test_stop_payment_comes_from_the_victim_country_only(world):
    body = emergency_body(
        type="stop-payment",
        urgency=None,
        risk_nature=None,
        persons_at_risk=None,
        why_not_mla=None,
        amount="250000.00",
        currency="eur",
        beneficiary_account="IT60X0542811101000000123456",
        beneficiary_bank="Banca Esempio",
    )
    fr = world.client("FR", Role.MEMBER)
    assert_error(
        fr.post("/api/v1/requests", json={**body, "victim_country": "DE"}), 403, "victim country"
    )
    assert_error(fr.post("/api/v1/requests", json=body), 400, "victim_country")
    assert_error(
        fr.post("/api/v1/requests", json={**body, "victim_country": "FR", "urgency": "routine"}),
        400,
        "emergency",
    )
    ok = fr.post("/api/v1/requests", json={**body, "victim_country": "FR"})
    assert ok.status_code == 201, ok.text
    assert ok.json()["urgency"] == "emergency"
    assert ok.json()["content"]["currency"] == "EUR"


# -- bad input --------------------------------------------------------------------------------


def requests_of(client):
    return client.get("/api/v1/requests").json()["items"]


@pytest.mark.parametrize(
    ("changes", "status", "needles"),
    [
        ({"custodian_location": None}, 400, ("Art. 29(2)", "(d)", "custodian_location")),
        ({"mla_intended": False}, 400, ("(f)",)),
        ({"authority": "", "necessity": None}, 400, ("(a)", "(e)")),
        ({"requested_country": "ZZ"}, 400, ("requested_country", "ISO 3166")),
        ({"requested_country": "ES"}, 400, ("no member country ES",)),
        ({"requested_country": "FR"}, 400, ("to itself",)),
        ({"requested_country": None}, 400, ("requested_country",)),
        ({"type": "favour"}, 400, ("type", "preservation")),
        ({"urgency": "asap"}, 400, ("urgency", "emergency")),
        ({"respond_by": "2026-03-01T00:00:00Z"}, 400, ("respond_by", "in the past")),
        ({"respond_by": "tomorrow"}, 400, ("respond_by",)),
        ({"expected_mla_date": "2026-01-01"}, 400, ("expected_mla_date", "in the past")),
        ({"colour": "red"}, 400, ("colour",)),
        ({"links": "incident--x"}, 400, ("links",)),
        ({"tlp": "purple"}, 400, ("tlp",)),
    ],
)
def test_bad_filings_are_refused_naming_the_problem(world, changes, status, needles):
    fr = world.client("FR", Role.MEMBER)
    body = {k: v for k, v in {**preservation_body(), **changes}.items() if v is not None}
    assert_error(fr.post("/api/v1/requests", json=body), status, *needles)
    assert requests_of(fr) == []


def test_who_may_file(world):
    assert_error(
        world.client("ACME", Role.PARTNER).post("/api/v1/requests", json=emergency_body()), 403
    )
    assert_error(
        world.client("GS", Role.ANALYST).post("/api/v1/requests", json=emergency_body()), 403
    )
    assert_error(
        world.client("FR", Role.NCB_ADMIN).post("/api/v1/requests", json=emergency_body()), 403
    )
    assert_error(
        world.client("FR", Role.MEMBER).post("/api/v1/requests", json=["x"]), 400, "JSON object"
    )
    no_body = world.client("FR", Role.MEMBER).post("/api/v1/requests")
    assert no_body.status_code == 400


def test_bad_transitions_leave_the_request_unchanged(world):
    fr = world.client("FR", Role.MEMBER)
    it = world.client("IT")
    request_id = fr.post("/api/v1/requests", json=emergency_body()).json()["id"]
    before = it.get(f"/api/v1/requests/{request_id}").json()

    def move(client, **body):
        return client.post(f"/api/v1/requests/{request_id}/transitions", json=body)

    assert_error(
        move(it, to="executed", answer="done"),
        409,
        "submitted",
        "cannot go to executed",
        "acknowledged",
    )
    assert_error(
        move(fr, to="acknowledged"), 403, "only the requested country (IT)", "FR was not asked"
    )
    assert_error(move(world.client("IT", Role.MEMBER), to="acknowledged"), 403, "duty officer")
    assert_error(move(world.client("DE"), to="acknowledged"), 404, request_id)
    assert_error(move(world.client("GS", Role.ANALYST), to="acknowledged"), 403)
    assert_error(move(it, to="expired"), 409)
    assert_error(move(it, to="nowhere"), 400, "to", "acknowledged")
    assert_error(move(it, to="acknowledged", colour="x"), 400, "colour")
    assert_error(move(it), 400, "to")
    assert_error(move(it, to="acknowledged", ground="political-offence"), 400, "ground")
    assert_error(move(fr, to="withdrawn"), 400, "reason")
    after = it.get(f"/api/v1/requests/{request_id}").json()
    assert after["state"] == before["state"] == "submitted"
    assert after["history"] == before["history"]

    assert move(it, to="acknowledged").status_code == 200
    assert_error(move(it, to="refused", reason="no"), 400, "ground", "political-offence")
    assert_error(move(it, to="refused", reason="no", ground="lazy"), 400, "ground")
    assert_error(move(it, to="refused", ground="political-offence"), 400, "reason")
    assert_error(move(it, to="executed", answer="x"), 409, "acknowledged")
    refused = move(
        it,
        to="refused",
        reason="The facts describe a political offence",
        ground="political_offence",
    )
    assert refused.status_code == 200, refused.text
    assert refused.json()["content"]["refusal_ground"] == "political-offence"
    assert_error(move(fr, to="mla-pending", mla_reference="x"), 409)
    assert move(fr, to="closed").status_code == 200
    assert_error(move(fr, to="closed"), 409, "final")
    history = fr.get(f"/api/v1/requests/{request_id}").json()["history"]
    transitions = [
        (h["from"], h["to"], h["actor"].split("@")[0]) for h in history if h["kind"] == "transition"
    ]
    assert transitions == [
        ("draft", "submitted", "FR-member"),
        ("submitted", "acknowledged", "IT-duty-officer"),
        ("acknowledged", "refused", "IT-duty-officer"),
        ("refused", "closed", "FR-member"),
    ]
    assert history[-2]["details"]["ground"] == "political-offence"


def test_a_draft_is_completed_then_submitted(world):
    fr = world.client("FR", Role.MEMBER)
    draft = fr.post("/api/v1/requests", json={**preservation_body(necessity=None), "draft": True})
    assert draft.status_code == 201, draft.text
    request_id = draft.json()["id"]
    assert draft.json()["state"] == "draft"
    assert draft.json()["deadlines"]["acknowledge_by"] is None
    # Nobody in Italy hears of a draft.
    assert world.client("IT").get("/api/v1/notifications").json()["items"] == []
    move = f"/api/v1/requests/{request_id}/transitions"
    assert_error(fr.post(move, json={"to": "submitted"}), 400, "(e)")
    assert_error(
        fr.patch(f"/api/v1/requests/{request_id}", json={"type": "legal-info"}), 400, "type"
    )
    assert_error(
        world.client("IT").patch(f"/api/v1/requests/{request_id}", json={"necessity": "x"}), 403
    )
    edited = fr.patch(f"/api/v1/requests/{request_id}", json={"necessity": "Logs kept 7 days"})
    assert edited.status_code == 200, edited.text
    assert fr.post(move, json={"to": "submitted"}).json()["state"] == "submitted"
    assert_error(fr.patch(f"/api/v1/requests/{request_id}", json={"necessity": "x"}), 409, "draft")


def test_figures_per_country(world):
    fr = world.client("FR", Role.MEMBER)
    it = world.client("IT")
    first = fr.post("/api/v1/requests", json=emergency_body()).json()["id"]
    fr.post("/api/v1/requests", json=emergency_body())
    world.clock.set(T0 + timedelta(minutes=30))
    it.post(f"/api/v1/requests/{first}/transitions", json={"to": "acknowledged"})
    world.clock.set(T0 + timedelta(hours=3))
    mine = it.get("/api/v1/requests/figures").json()["items"]
    assert [f["country"] for f in mine] == ["IT"]
    [line] = mine
    assert line["received"] == 2
    assert line["acknowledged"] == 1
    assert line["median_seconds_to_acknowledge"] == 1800
    assert line["overdue"] == {"acknowledgement": 1, "response": 0}
    everyone = world.client("GS", Role.ANALYST).get("/api/v1/requests/figures").json()["items"]
    assert [f["country"] for f in everyone] == ["DE", "FR", "IT"]
    assert_error(world.client("ACME", Role.PARTNER).get("/api/v1/requests/figures"), 403)
    sent = fr.get("/api/v1/requests?direction=sent").json()["items"]
    assert len(sent) == 2
    assert fr.get("/api/v1/requests?direction=received").json()["items"] == []
    assert len(it.get("/api/v1/requests?direction=received&state=submitted").json()["items"]) == 1
    assert_error(fr.get("/api/v1/requests?direction=sideways"), 400, "direction")
    assert_error(fr.get("/api/v1/requests?state=pondering"), 400, "state")
    assert world.client("DE").get("/api/v1/requests").json()["items"] == []


def test_the_server_sweeps_on_its_own(database_url):
    clock = FixedClock(T0)
    services = assist_services(database_url, clock, assist_sweep_seconds=1)
    c = add_countries(services)
    request = services.assist.file(c("FR", Role.MEMBER), emergency_body()).shown.request
    clock.set(T0 + timedelta(hours=1))
    with TestClient(create_app(services)):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if services.assist.get(c("IT"), request.id, log=False).request.escalation_level:
                break
            time.sleep(0.1)
    assert services.assist.get(c("IT"), request.id, log=False).request.escalation_level == 1
    services.close()
