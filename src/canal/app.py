"""The composition root: builds every service from the settings. Nothing else wires."""

from __future__ import annotations

from dataclasses import dataclass

from canal.accounts.service import AccountService
from canal.audit.service import AuditService
from canal.clock import Clock, SystemClock
from canal.config import Settings
from canal.exchange.stix_export import StixExporter
from canal.ingest.service import IngestService
from canal.policy import Policy
from canal.records.review import ReviewService
from canal.records.service import RecordService
from canal.store.database import Database
from canal.store.handlings import HandlingStore


@dataclass
class Services:
    settings: Settings
    clock: Clock
    database: Database
    policy: Policy
    accounts: AccountService
    ingest: IngestService
    records: RecordService
    exporter: StixExporter
    audit: AuditService
    review: ReviewService

    def close(self) -> None:
        self.database.dispose()


def build_services(settings: Settings, *, clock: Clock | None = None) -> Services:
    clock = clock or SystemClock()
    database = Database(settings.database_url)
    handlings = HandlingStore()
    policy = Policy()
    records = RecordService(database=database, handlings=handlings, policy=policy, clock=clock)
    ingest = IngestService(
        database=database,
        clock=clock,
        handlings=handlings,
        policy=policy,
        retention_years=settings.retention_years,
        chunk_size=settings.ingest_chunk,
    )
    return Services(
        settings=settings,
        clock=clock,
        database=database,
        policy=policy,
        accounts=AccountService(database=database, clock=clock),
        ingest=ingest,
        records=records,
        exporter=StixExporter(records=records),
        audit=AuditService(database=database),
        review=ReviewService(
            database=database,
            clock=clock,
            handlings=handlings,
            records=records,
            ingest=ingest,
        ),
    )
