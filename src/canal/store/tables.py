"""The tables. Times are stored as integer microseconds since the epoch (UTC): exact, compact,
and compared the same way on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

orgs = Table(
    "orgs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("country", String(2)),
    # Handling defaults for what this org submits without markings (HandlingDefaults JSON).
    Column("defaults", Text, nullable=False, server_default="{}"),
    Column("created_at", BigInteger, nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("org_id", Integer, ForeignKey("orgs.id"), nullable=False, index=True),
    Column("role", String(20), nullable=False),
    Column("name", String(200), nullable=False),
    Column("clearance", Integer, nullable=False),
    # sha256 of the secret part; the secret itself is shown once and never stored.
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger),
    Column("revoked_at", BigInteger),
)

# Handling profiles: records that share the same rules share one row. The policy's SQL filter
# is evaluated against this small table rather than against every record.
handlings = Table(
    "handlings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("source_org_id", Integer, ForeignKey("orgs.id"), nullable=False, index=True),
    Column("tlp", String(16), nullable=False),
    Column("pap", String(8), nullable=False),
    Column("audience", String(20), nullable=False),
    Column("handling_codes", String(20), nullable=False),
    Column("h3_text", Text),
    # Lists are stored delimited as ",FR,DE," / ",12,40," so that a membership test is one
    # LIKE on both back ends; "" is the empty list.
    Column("allow_countries", Text, nullable=False),
    Column("allow_orgs", Text, nullable=False),
    Column("deny_countries", Text, nullable=False),
    Column("deny_orgs", Text, nullable=False),
    Column("purposes", Integer, nullable=False),
    Column("source_reliability", String(1), nullable=False),
    Column("information_credibility", String(1), nullable=False),
    Column("personal_data", Boolean, nullable=False),
    Column("confidentiality", Integer, nullable=False),
)

records = Table(
    "records",
    metadata,
    Column("pk", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("stix_id", String(300), nullable=False),
    Column("stix_type", String(250), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("spec_version", String(8), nullable=False),
    Column("date_added", BigInteger, nullable=False, unique=True),
    Column("source_org_id", Integer, ForeignKey("orgs.id"), nullable=False),
    Column("handling_id", Integer, ForeignKey("handlings.id"), nullable=False),
    Column("is_latest", Boolean, nullable=False),
    Column("revoked", Boolean, nullable=False),
    Column("retention_until", BigInteger, nullable=False),
    Column("review_state", String(16), nullable=False),
    Column("art3_status", String(16), nullable=False),
    Column("release_state", String(16), nullable=False),
    # The object as received (key order and content kept), serialised once at ingest.
    Column("object", Text, nullable=False),
    # Partner quarantine (R21): who others see as the disseminator once released, and why a
    # submission was rejected.
    Column("disseminator_org_id", Integer, ForeignKey("orgs.id")),
    Column("release_note", Text),
    # Another source already held this (id, version) when this row was written. Readers show
    # each (id, version) once; only rows with a twin pay for the check.
    Column("has_twin", Boolean, nullable=False, server_default=false()),
    UniqueConstraint("stix_id", "version", "source_org_id"),
    Index("ix_records_type_latest_added", "stix_type", "is_latest", "date_added"),
    Index("ix_records_source_added", "source_org_id", "date_added"),
    # No index on handling_id, on purpose: the policy filters on it, and with one PostgreSQL
    # would intersect bitmaps over most of the table instead of reading in date_added order and
    # stopping at the page size.
    Index("ix_records_retention_until", "retention_until"),
    Index("ix_records_release_state", "release_state", "date_added"),
    # The current records, for `canal correlate`: read from this index, not the table (the
    # objects make it some 2 kB a row). The flags are columns too: SQLite reads an index alone
    # only when it holds every column the query names, those of its own WHERE included.
    Index(
        "ix_records_current",
        "date_added",
        "is_latest",
        "revoked",
        sqlite_where=text("is_latest AND NOT revoked"),
        postgresql_where=text("is_latest AND NOT revoked"),
    ),
)

# Changes proposed by someone other than a record's source (R1): the source accepts or rejects.
proposals = Table(
    "proposals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("stix_id", String(300), nullable=False, index=True),
    Column("source_org_id", Integer, ForeignKey("orgs.id"), nullable=False, index=True),
    Column("proposer_org_id", Integer, ForeignKey("orgs.id"), nullable=False),
    Column("proposer", String(300), nullable=False),
    Column("object", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("note", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("decided_at", BigInteger),
)

# One row: the head of the write sequence. Writers lock it for the length of their transaction,
# so date_added and the processing log advance in commit order (TAXII paging relies on it).
sequencer = Table(
    "sequencer",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("last_date_added", BigInteger, nullable=False),
    Column("last_log_seq", BigInteger, nullable=False),
    Column("last_log_hash", String(64), nullable=False),
    # The processing log's subjects up to this sequence number are in audit_subject_index;
    # how many rows audit_subjects holds beyond it.
    Column("merged_subject_seq", BigInteger, nullable=False, server_default="0"),
    Column("unmerged_subjects", BigInteger, nullable=False, server_default="0"),
    # Until when (µs) one process's background merge of those subjects holds the claim: the
    # other workers leave it the work (store.audit.merge_subjects_when_due).
    Column("subject_merge_until", BigInteger, nullable=False, server_default="0"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(300), nullable=False),
    Column("org_id", Integer),
    Column("action", String(64), nullable=False),
    Column("purpose", String(32)),
    Column("summary", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_log_org_id_seq", "org_id", "seq"),
)

# Which records each log entry concerns: lets a source list every operation on its records.
# Derived from the entries' summaries (which the hash chain covers); `audit verify` checks it.
audit_subjects = Table(
    "audit_subjects",
    metadata,
    Column("log_seq", BigInteger, ForeignKey("audit_log.seq"), nullable=False),
    Column("stix_id", String(300), nullable=False),
    Index("ix_audit_subjects_log_seq", "log_seq"),
)

# The same pairs by record, for "every operation on this record". Filled from audit_subjects in
# sorted batches (store.audit.merge_subjects) rather than row by row: a bulk ingest writes one
# subject per record, and inserted one by one into an index on random ids, each dirtied a page
# of its own (at 100k records, 40% of what a 1,000-object commit wrote). The newest subjects,
# not yet merged, are read from audit_subjects by sequence number.
audit_subject_index = Table(
    "audit_subject_index",
    metadata,
    Column("stix_id", String(300), primary_key=True),
    Column("log_seq", BigInteger, primary_key=True),
    sqlite_with_rowid=False,
)

# TAXII Add Objects outcomes (TAXII 2.1 §4.3), readable by the org that sent the request.
taxii_status = Table(
    "taxii_status",
    metadata,
    Column("id", String(36), primary_key=True),
    # The org of the requester (0: the local administrator, which has no orgs row).
    Column("org_id", Integer, nullable=False),
    Column("collection_id", String(36), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("total_count", Integer, nullable=False),
    Column("success_count", Integer, nullable=False),
    Column("failure_count", Integer, nullable=False),
    Column("pending_count", Integer, nullable=False),
    # {"successes": [...], "failures": [...], "pendings": [...]} as status-details.
    Column("details", Text, nullable=False),
    Index("ix_taxii_status_created_at", "created_at"),
)

# Derived index behind the "ransomware" TAXII collection: records about ransomware by their own
# content (seed_id = stix_id), records that reference such a seed, and the other ends of the
# relationships and sightings that do (via_id names the relationship; "" when direct).
ransomware_links = Table(
    "ransomware_links",
    metadata,
    Column("stix_id", String(300), nullable=False),
    Column("seed_id", String(300), nullable=False),
    Column("via_id", String(300), nullable=False),
    UniqueConstraint("stix_id", "seed_id", "via_id"),
    Index("ix_ransomware_links_seed_id", "seed_id"),
)

# How far each derived index has read the records table (a date_added).
index_positions = Table(
    "index_positions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

# TAXII pulls: where the pull of each (server, collection) stopped, and when it runs next. Kept
# here rather than in a process so that any worker can resume or schedule it.
taxii_pulls = Table(
    "taxii_pulls",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("server_url", String(2000), nullable=False),
    Column("collection_id", String(200), nullable=False),
    Column("source_org_id", Integer, ForeignKey("orgs.id"), nullable=False),
    # The remote's date_added up to which every object has been taken (TAXII timestamp text).
    Column("added_after", String(40)),
    Column("objects_pulled", BigInteger, nullable=False, server_default="0"),
    Column("last_run_at", BigInteger),
    Column("last_error", Text),
    Column("next_due_at", BigInteger),
    Column("lease_until", BigInteger),
    Column("lease_owner", String(100)),
    UniqueConstraint("server_url", "collection_id"),
)

# -- the 24/7 network (canal.assist; docs/assist.md) --------------------------------------------

# Points of contact: one primary and one backup per member country (R23).
assist_contacts = Table(
    "assist_contacts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("country", String(2), nullable=False),
    Column("slot", String(10), nullable=False),
    Column("name", String(200), nullable=False),
    Column("phone", String(40)),
    Column("email", String(320)),
    Column("webhook_url", Text),
    Column("webhook_secret", Text),
    Column("hours", String(200), nullable=False),
    Column("languages", String(200), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(300), nullable=False),
    UniqueConstraint("country", "slot"),
)

# Assistance requests. The deadline columns are what the sweep claims work on: each step is a
# conditional UPDATE on them, so two sweeps never take the same step twice.
assist_requests = Table(
    "assist_requests",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("requesting_org_id", Integer, ForeignKey("orgs.id"), nullable=False),
    Column("requesting_country", String(2), nullable=False),
    Column("requested_country", String(2), nullable=False),
    Column("type", String(32), nullable=False),
    Column("urgency", String(16), nullable=False),
    Column("state", String(24), nullable=False),
    Column("tlp", String(16), nullable=False),
    Column("share_with_secretariat", Boolean, nullable=False),
    # The content fields of DOMAIN.md §3.2 (JSON): they vary by type.
    Column("fields", Text, nullable=False),
    Column("created_by", String(300), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("submitted_at", BigInteger),
    Column("acknowledged_at", BigInteger),
    Column("answered_at", BigInteger),
    Column("closed_at", BigInteger),
    Column("ack_due", BigInteger),
    Column("response_due", BigInteger),
    Column("respond_by", BigInteger),
    Column("escalation_level", Integer, nullable=False),
    Column("next_escalation_at", BigInteger),
    Column("response_overdue", Boolean, nullable=False),
    Column("preserved_until", BigInteger),
    Column("reminders_sent", Integer, nullable=False),
    Column("next_reminder_at", BigInteger),
    Column("mla_reference", Text),
    Column("answer", Text),
    Column("refusal_ground", String(48)),
    Index("ix_assist_requests_requested_country_state", "requested_country", "state"),
    Index("ix_assist_requests_requesting_country_state", "requesting_country", "state"),
    Index("ix_assist_requests_next_escalation_at", "next_escalation_at"),
    Index("ix_assist_requests_response_due", "response_due"),
    Index("ix_assist_requests_next_reminder_at", "next_reminder_at"),
    Index("ix_assist_requests_preserved_until", "preserved_until"),
)

# The incidents and records a request concerns.
assist_links = Table(
    "assist_links",
    metadata,
    Column("request_id", String(36), ForeignKey("assist_requests.id"), primary_key=True),
    Column("stix_id", String(300), primary_key=True),
    Index("ix_assist_links_stix_id", "stix_id"),
)

# Each request's history: transitions, escalations, reminders, with who and why.
assist_events = Table(
    "assist_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("request_id", String(36), ForeignKey("assist_requests.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(300), nullable=False),
    Column("org_id", Integer),
    Column("side", String(12), nullable=False),
    Column("from_state", String(24)),
    Column("to_state", String(24)),
    Column("reason", Text),
    Column("details", Text, nullable=False),
    Index("ix_assist_events_request_id", "request_id", "id"),
)

# In-app notifications: an org (or one role in it) reads them through the API.
assist_notifications = Table(
    "assist_notifications",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("org_id", Integer, ForeignKey("orgs.id"), nullable=False),
    Column("role", String(20)),
    Column("request_id", String(36)),
    Column("kind", String(16), nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("read_at", BigInteger),
    Index("ix_assist_notifications_org_id", "org_id", "id"),
)

# E-mails and webhooks to send. A row is never deleted: sent, waiting for a retry, or failed
# for everyone to see. Senders lease a row (claimed_until) with a conditional UPDATE.
assist_outbox = Table(
    "assist_outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel", String(10), nullable=False),
    Column("target", Text, nullable=False),
    Column("country", String(2)),
    Column("contact_id", Integer),
    Column("request_id", String(36)),
    Column("kind", String(16), nullable=False),
    Column("subject", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String(10), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("claimed_until", BigInteger),
    Column("last_error", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("sent_at", BigInteger),
    # A link alert's recipient org (its alert channels sign the webhook); None for requests.
    Column("org_id", Integer),
    Index("ix_assist_outbox_state_next_attempt_at", "state", "next_attempt_at"),
)

# Incidents their source declared closed: the post-event package is made for these (R36).
assist_incident_closures = Table(
    "assist_incident_closures",
    metadata,
    Column("stix_id", String(300), primary_key=True),
    Column("org_id", Integer, ForeignKey("orgs.id"), nullable=False),
    Column("closed_by", String(300), nullable=False),
    Column("closed_at", BigInteger, nullable=False),
    Column("note", Text),
)

# -- correlation (observables, links, clusters, lookups) -------------------------------------

# Each normalised value once (PEERS.md: MISP stores every matching pair; canal indexes values).
observables = Table(
    "observables",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("value", Text, nullable=False),
    # The warninglist (or "local-allow") that marks the value as seen everywhere; such values
    # are stored and searchable but link nothing and are no hit.
    Column("flag", String(200)),
    # How many record rows carry the value: above the hub threshold it links nothing either,
    # and is reported as a hub with this count instead.
    Column("records", Integer, nullable=False, server_default="0"),
    # The blind-lookup token of the value (see canal.analysis.blind).
    Column("blind", String(64), index=True),
    UniqueConstraint("kind", "value"),
)

record_observables = Table(
    "record_observables",
    metadata,
    Column("observable_id", BigInteger, ForeignKey("observables.id"), primary_key=True),
    Column(
        "record_pk",
        BigInteger,
        ForeignKey("records.pk", ondelete="CASCADE"),
        primary_key=True,
    ),
    Index("ix_record_observables_record_pk", "record_pk"),
)

# References between objects (relationships, sightings, *_ref(s)): links as well.
record_refs = Table(
    "record_refs",
    metadata,
    Column("record_pk", BigInteger, ForeignKey("records.pk", ondelete="CASCADE"), nullable=False),
    Column("target_id", String(300), nullable=False),
    # Covering, in the order of the targets: a rebuild resolves every reference through it,
    # searching the ids' index in order (three times faster than in the order written).
    Index("ix_record_refs_target_id", "target_id", "record_pk"),
    Index("ix_record_refs_record_pk", "record_pk"),
)

clusters = Table(
    "clusters",
    metadata,
    # The record number of the cluster's anchor, its lowest (its earliest record): stable
    # across rebuilds while that record stays. Numbers, not STIX ids: a rebuild writes millions
    # of memberships, and a STIX id in each was most of their bytes.
    Column(
        "no", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("size", Integer, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_clusters_size", "size"),
)

cluster_members = Table(
    "cluster_members",
    metadata,
    # The record number as SQLite's rowid: the table is its own index by record.
    Column(
        "record_pk",
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("records.pk", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("cluster_no", BigInteger, nullable=False),
    # Covering: a cluster's members without a lookup into the table.
    Index("ix_cluster_members_cluster_no", "cluster_no", "record_pk"),
)

# The secretariat's own lists on top of the warninglists: "allow" marks a value benign,
# "deny" keeps a value linking whatever a warninglist says.
local_lists = Table(
    "local_lists",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("observable_key", String(600), primary_key=True),
    Column("note", Text),
    Column("added_by", String(300), nullable=False),
    Column("added_at", BigInteger, nullable=False),
)

# Notices to a record's source: a lookup hit its data (R9), or new data links to it.
source_notices = Table(
    "source_notices",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("org_id", Integer, ForeignKey("orgs.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # hit | link
    Column("record_id", String(300), nullable=False),
    # The other side, only as far as the recipient may know it.
    Column("other_record_id", String(300)),
    Column("other_party", String(300)),
    Column("observable", Text),
    Column("detail", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("read_at", BigInteger),
    # Link alerts are sent once per new link.
    Column("dedupe_key", String(200), unique=True),
    Index("ix_source_notices_org_created", "org_id", "created_at"),
)

# Where an org's link alerts go besides the app: an e-mail address and a signed webhook, set by
# the org (its NCB administrator) or the local administrator. One row an org, none by default.
alert_channels = Table(
    "alert_channels",
    metadata,
    Column("org_id", Integer, ForeignKey("orgs.id"), primary_key=True),
    Column("email", String(320)),
    Column("webhook_url", Text),
    Column("webhook_secret", Text),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(300), nullable=False),
)

# Fixed-window counters for rate limits (per principal, per observable type); in the database
# so that every worker counts the same.
rate_counters = Table(
    "rate_counters",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("window_start", BigInteger, nullable=False),
    Column("count", Integer, nullable=False),
)

# Keys of the per-partner Bloom filters; a new generation makes older filters useless.
bloom_keys = Table(
    "bloom_keys",
    metadata,
    Column("org_id", Integer, ForeignKey("orgs.id"), primary_key=True),
    Column("generation", Integer, nullable=False),
    Column("rotated_at", BigInteger, nullable=False),
)
