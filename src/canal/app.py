"""The composition root: builds every service from the settings. Nothing else wires."""

from __future__ import annotations

import gc
from dataclasses import dataclass

from canal.accounts.service import AccountService
from canal.analysis.alert_channels import AlertChannelService
from canal.analysis.alerts import IndexHook
from canal.analysis.blind import hub_scalar
from canal.analysis.bloom_service import BloomService
from canal.analysis.clusters import ClusterService
from canal.analysis.correlate import Correlator
from canal.analysis.index import ObservableIndex
from canal.analysis.local_lists import LocalListService
from canal.analysis.lookup import LookupLimits, LookupService
from canal.analysis.warninglists import Warninglists
from canal.assist.package import PackageService
from canal.assist.service import AssistService
from canal.audit.service import AuditService
from canal.clock import Clock, SystemClock
from canal.config import Settings
from canal.exchange.pull import PullService
from canal.exchange.stix_export import StixExporter
from canal.exchange.taxii import TaxiiService
from canal.ingest.service import IngestService
from canal.policy import Policy
from canal.records.review import ReviewService
from canal.records.search import SearchService
from canal.records.service import RecordService
from canal.records.update import HandlingUpdateService
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
    assist: AssistService
    packages: PackageService
    taxii: TaxiiService
    search: SearchService
    handling_updates: HandlingUpdateService
    pulls: PullService
    index: ObservableIndex
    correlator: Correlator
    clusters: ClusterService
    lookups: LookupService
    bloom: BloomService
    local_lists: LocalListService
    alert_channels: AlertChannelService

    def close(self) -> None:
        self.database.dispose()


#: Allocations between two young collections. CPython's default (700) suits small scripts; an
#: ingest allocates millions of short-lived, acyclic objects (parsed JSON, rows), and each
#: collection also promotes survivors towards full collections that rescan everything alive.
#: Measured on the MISP bench: 5 s of 25 s in the collector at the default, under 1 s here.
YOUNG_COLLECTION_THRESHOLD = 50_000


def tune_collector() -> None:
    """Set the cyclic collector for a long-running canal process (CLI command or server
    worker): fewer young collections, and what start-up built (schemas, the warninglists once
    loaded) moved out of the collector's sight, so that full collections do not rescan it."""
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, old)
    gc.freeze()


def build_services(settings: Settings, *, clock: Clock | None = None) -> Services:
    clock = clock or SystemClock()
    database = Database(settings.database_url)
    handlings = HandlingStore()
    policy = Policy()
    records = RecordService(database=database, handlings=handlings, policy=policy, clock=clock)
    index = ObservableIndex(
        warninglists=Warninglists(),
        hub_threshold=settings.hub_threshold,
        blind_secret=hub_scalar(settings.secret_key),
    )
    ingest = IngestService(
        database=database,
        clock=clock,
        handlings=handlings,
        policy=policy,
        retention_years=settings.retention_years,
        chunk_size=settings.ingest_chunk,
        after_write=IndexHook(index=index, policy=policy, reader=records.reader, settings=settings),
        derive=index.derive,
    )
    assist = AssistService(
        database=database, clock=clock, settings=settings, records=records, policy=policy
    )
    return Services(
        alert_channels=AlertChannelService(database=database, clock=clock, settings=settings),
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
        assist=assist,
        packages=PackageService(database=database, clock=clock, records=records, assist=assist),
        taxii=TaxiiService(
            database=database,
            clock=clock,
            policy=policy,
            records=records,
            ingest=ingest,
            status_days=settings.taxii_status_days,
        ),
        search=SearchService(database=database, records=records),
        handling_updates=HandlingUpdateService(
            database=database, clock=clock, handlings=handlings, policy=policy, records=records
        ),
        pulls=PullService(database=database, clock=clock, ingest=ingest),
        index=index,
        correlator=Correlator(database=database, clock=clock, index=index),
        clusters=ClusterService(records=records, hub_threshold=settings.hub_threshold),
        lookups=LookupService(
            database=database,
            clock=clock,
            policy=policy,
            records=records,
            index=index,
            limits=LookupLimits(
                batch=settings.lookup_batch,
                per_minute=settings.lookup_per_minute,
                per_type_per_minute=settings.lookup_per_type_per_minute,
            ),
        ),
        local_lists=LocalListService(database=database, clock=clock, index=index),
        bloom=BloomService(clock=clock, records=records, secret_key=settings.secret_key),
    )
