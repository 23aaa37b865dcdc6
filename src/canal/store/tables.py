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
    Index("ix_records_handling_id", "handling_id"),
    Index("ix_records_retention_until", "retention_until"),
    Index("ix_records_release_state", "release_state", "date_added"),
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
    Index("ix_audit_subjects_stix_id", "stix_id", "log_seq"),
    Index("ix_audit_subjects_log_seq", "log_seq"),
)
