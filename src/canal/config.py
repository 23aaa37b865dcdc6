"""Settings. Only this module reads the environment.

Precedence: defaults < ``CANAL_*`` environment variables < explicit overrides (CLI flags).
Every setting is declared once in ``SETTINGS`` with its default and help text; the README's
configuration table is checked against it by a test.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from canal.errors import InvalidInput


class Environment(StrEnum):
    PRODUCTION = "production"
    DEVELOPMENT = "development"


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: str
    help: str


# The 24/7 network (docs/assist.md). Delays are "30m", "8h", "10d" or "1bd" (business days).
ANALYSIS_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "hub_threshold",
        "200",
        "A value carried by more records than this links nothing; it is reported as a hub.",
    ),
    Setting("lookup_batch", "100000", "Most values in one hit/no-hit lookup."),
    Setting(
        "lookup_per_minute",
        "20000",
        "Values one principal may look up a minute; past it, 429 and a security log entry.",
    ),
    Setting(
        "lookup_per_type_per_minute",
        "10000",
        "Values of one type (ipv4, domain, ...) one principal may look up a minute.",
    ),
)

ASSIST_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "assist_ack_deadlines",
        "emergency=1h,urgent=4h,routine=1bd",
        "Time the requested 24/7 point of contact has to acknowledge a request, per urgency.",
    ),
    Setting(
        "assist_response_deadlines",
        "emergency=8h,urgent=24h,routine=10d",
        "Time to the first substantive response, per urgency.",
    ),
    Setting(
        "assist_escalation_steps",
        "emergency=1h,urgent=4h,routine=1bd",
        "Time between escalation steps once an acknowledgement is late (backup contact, then "
        "the NCB duty officers, then the secretariat's duty desk), per urgency.",
    ),
    Setting(
        "assist_preservation_days",
        "60",
        "Days a preservation stays in force after execution (at least 60, Budapest Art. 29(7)).",
    ),
    Setting(
        "assist_reminder_days",
        "14,3",
        "Days before a preservation ends at which the requesting country is reminded to file "
        "its formal mutual legal assistance request.",
    ),
    Setting(
        "assist_sweep_seconds",
        "60",
        "Interval of the server's deadline sweep and notification delivery, in seconds; 0 "
        "turns the server's sweep off (run `canal requests sweep` from a scheduler instead).",
    ),
    Setting("assist_desk_email", "", "E-mail address of the secretariat's duty desk."),
    Setting("assist_desk_webhook", "", "Webhook URL of the secretariat's duty desk."),
    Setting(
        "assist_desk_webhook_secret",
        "",
        "Key that signs the duty desk's webhooks (HMAC-SHA256).",
    ),
    Setting(
        "public_url",
        "http://127.0.0.1:8000",
        "Base URL of canal put in notifications, so that recipients can open the request.",
    ),
    Setting("smtp_host", "", "SMTP server for e-mail notifications; empty turns e-mail off."),
    Setting("smtp_port", "25", "Port of the SMTP server."),
    Setting("smtp_from", "canal@localhost", "Sender address of e-mail notifications."),
    Setting("smtp_tls", "none", "none, starttls or ssl."),
    Setting("smtp_user", "", "SMTP login, if the server asks for one."),
    Setting("smtp_password", "", "SMTP password (keep it in the environment, not in a file)."),
    Setting(
        "notify_max_attempts",
        "8",
        "Delivery attempts of one e-mail or webhook before it is marked failed (it stays "
        "listed, and can be retried).",
    ),
    Setting(
        "notify_backoff_seconds",
        "60",
        "Wait before the first retry of a failed delivery; it doubles at each attempt, up to "
        "one hour.",
    ),
    Setting("webhook_timeout_seconds", "10", "Timeout of one webhook call."),
)

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "database_url",
        "sqlite:///canal.db",
        "SQLAlchemy URL of the store: a SQLite file (default, in the working directory) or "
        "PostgreSQL as postgresql+psycopg://user@host/db.",
    ),
    Setting(
        "secret_key",
        "",
        "Key that signs paging cursors and sessions. Required in production; in development a "
        "fixed key is used with a warning.",
    ),
    Setting("environment", "development", "production or development."),
    Setting(
        "retention_years",
        "5",
        "Default retention period of a record, in years after recording (DOMAIN.md R6).",
    ),
    Setting(
        "max_submission_bytes",
        str(256 * 1024 * 1024),
        "Largest submission accepted in one request or file, in bytes.",
    ),
    Setting(
        "ingest_chunk",
        "5000",
        "Objects written per transaction during bulk ingest.",
    ),
    Setting(
        "taxii_status_days",
        "7",
        "Days a TAXII Add Objects status stays queryable (the standard asks for at least one).",
    ),
    Setting(
        "pull_feeds",
        "",
        "TOML file listing the TAXII feeds `canal pull --scheduled` pulls (see docs/taxii.md).",
    ),
    Setting("host", "127.0.0.1", "Address `canal serve` listens on."),
    Setting("port", "8000", "Port `canal serve` listens on."),
    *ASSIST_SETTINGS,
    *ANALYSIS_SETTINGS,
)

_DEVELOPMENT_KEY = "canal-development-key-not-for-production"

_DELAY = re.compile(r"^(\d+)(m|h|d|bd)$")
_URGENCIES = ("emergency", "urgent", "routine")


@dataclass(frozen=True, slots=True)
class Delay:
    """A deadline offset: minutes, hours, calendar days or business days (Monday-Friday)."""

    amount: int
    unit: str

    @classmethod
    def parse(cls, raw: str) -> Delay:
        found = _DELAY.match(raw.strip().lower())
        if found is None:
            raise ValueError(f"{raw!r} is not a delay such as 30m, 8h, 10d or 1bd")
        return cls(int(found.group(1)), found.group(2))

    def after(self, at: datetime) -> datetime:
        if self.unit == "m":
            return at + timedelta(minutes=self.amount)
        if self.unit == "h":
            return at + timedelta(hours=self.amount)
        if self.unit == "d":
            return at + timedelta(days=self.amount)
        # Business days keep the time of day and skip Saturdays and Sundays (UTC).
        out, left = at, self.amount
        while left > 0:
            out += timedelta(days=1)
            if out.weekday() < 5:
                left -= 1
        return out

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


@dataclass(frozen=True, slots=True)
class Delays:
    """One delay per urgency (emergency, urgent, routine)."""

    by_urgency: tuple[tuple[str, Delay], ...]

    def of(self, urgency: str) -> Delay:
        return dict(self.by_urgency)[urgency]

    @classmethod
    def parse(cls, name: str, raw: str) -> Delays:
        found: dict[str, Delay] = {}
        what = f"setting CANAL_{name.upper()}"
        for part in raw.split(","):
            key, sep, value = part.partition("=")
            key = key.strip().lower()
            if not sep or key not in _URGENCIES:
                raise InvalidInput(what, f"{part.strip()!r} is not urgency=delay")
            try:
                found[key] = Delay.parse(value)
            except ValueError as exc:
                raise InvalidInput(what, str(exc)) from None
        missing = [u for u in _URGENCIES if u not in found]
        if missing:
            raise InvalidInput(
                f"setting CANAL_{name.upper()}", f"no delay for {', '.join(missing)}"
            )
        return cls(tuple((u, found[u]) for u in _URGENCIES))


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    secret_key: str
    environment: Environment
    retention_years: int
    max_submission_bytes: int
    ingest_chunk: int
    taxii_status_days: int
    pull_feeds: str
    host: str
    port: int
    assist_ack_deadlines: Delays
    assist_response_deadlines: Delays
    assist_escalation_steps: Delays
    assist_preservation_days: int
    assist_reminder_days: tuple[int, ...]
    assist_sweep_seconds: int
    assist_desk_email: str
    assist_desk_webhook: str
    assist_desk_webhook_secret: str
    public_url: str
    smtp_host: str
    smtp_port: int
    smtp_from: str
    smtp_tls: str
    smtp_user: str
    smtp_password: str
    notify_max_attempts: int
    notify_backoff_seconds: int
    webhook_timeout_seconds: int
    hub_threshold: int
    lookup_batch: int
    lookup_per_minute: int
    lookup_per_type_per_minute: int

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"setting CANAL_{name.upper()}", f"{raw!r} is not an integer") from None
    if value <= 0:
        raise InvalidInput(f"setting CANAL_{name.upper()}", "must be positive")
    return value


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the settings from defaults, then the environment, then `overrides`."""
    env = os.environ if environ is None else environ
    raw: dict[str, str] = {s.name: env.get(f"CANAL_{s.name.upper()}", s.default) for s in SETTINGS}
    for key, value in overrides.items():
        if value is not None:
            raw[key] = str(value)
    try:
        environment = Environment(raw["environment"])
    except ValueError:
        raise InvalidInput(
            "setting CANAL_ENVIRONMENT", "must be 'production' or 'development'"
        ) from None
    secret = raw["secret_key"]
    if not secret:
        if environment is Environment.PRODUCTION:
            raise InvalidInput("setting CANAL_SECRET_KEY", "is required in production")
        secret = _DEVELOPMENT_KEY
    url = raw["database_url"]
    if url.startswith("postgresql://"):
        # The psycopg 3 driver is the one installed; plain postgresql:// would ask for psycopg2.
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return Settings(
        database_url=url,
        secret_key=secret,
        environment=environment,
        retention_years=_int("retention_years", raw["retention_years"]),
        max_submission_bytes=_int("max_submission_bytes", raw["max_submission_bytes"]),
        ingest_chunk=_int("ingest_chunk", raw["ingest_chunk"]),
        taxii_status_days=_int("taxii_status_days", raw["taxii_status_days"]),
        pull_feeds=raw["pull_feeds"],
        host=raw["host"],
        port=_int("port", raw["port"]),
        **_assist_settings(raw),
        hub_threshold=_int("hub_threshold", raw["hub_threshold"]),
        lookup_batch=_int("lookup_batch", raw["lookup_batch"]),
        lookup_per_minute=_int("lookup_per_minute", raw["lookup_per_minute"]),
        lookup_per_type_per_minute=_int(
            "lookup_per_type_per_minute", raw["lookup_per_type_per_minute"]
        ),
    )


def _assist_settings(raw: dict[str, str]) -> dict[str, Any]:
    preservation = _int("assist_preservation_days", raw["assist_preservation_days"])
    if preservation < 60:
        # Budapest Art. 29(7): not less than sixty days.
        raise InvalidInput("setting CANAL_ASSIST_PRESERVATION_DAYS", "must be at least 60")
    try:
        reminders = tuple(
            sorted({int(d) for d in raw["assist_reminder_days"].split(",") if d.strip()})
        )
    except ValueError:
        reminders = (0,)
    if not reminders or min(reminders) <= 0 or max(reminders) >= preservation:
        raise InvalidInput(
            "setting CANAL_ASSIST_REMINDER_DAYS",
            f"{raw['assist_reminder_days']!r} must be days before the end, e.g. 14,3",
        )
    sweep = raw["assist_sweep_seconds"].strip()
    if not sweep.isdigit():
        raise InvalidInput("setting CANAL_ASSIST_SWEEP_SECONDS", "must be 0 or a number of seconds")
    tls = raw["smtp_tls"].strip().lower()
    if tls not in {"none", "starttls", "ssl"}:
        raise InvalidInput("setting CANAL_SMTP_TLS", "must be none, starttls or ssl")
    return {
        "assist_ack_deadlines": Delays.parse("assist_ack_deadlines", raw["assist_ack_deadlines"]),
        "assist_response_deadlines": Delays.parse(
            "assist_response_deadlines", raw["assist_response_deadlines"]
        ),
        "assist_escalation_steps": Delays.parse(
            "assist_escalation_steps", raw["assist_escalation_steps"]
        ),
        "assist_preservation_days": preservation,
        "assist_reminder_days": tuple(reversed(reminders)),
        "assist_sweep_seconds": int(sweep),
        "assist_desk_email": raw["assist_desk_email"].strip(),
        "assist_desk_webhook": raw["assist_desk_webhook"].strip(),
        "assist_desk_webhook_secret": raw["assist_desk_webhook_secret"],
        "public_url": raw["public_url"].rstrip("/"),
        "smtp_host": raw["smtp_host"].strip(),
        "smtp_port": _int("smtp_port", raw["smtp_port"]),
        "smtp_from": raw["smtp_from"].strip(),
        "smtp_tls": tls,
        "smtp_user": raw["smtp_user"],
        "smtp_password": raw["smtp_password"],
        "notify_max_attempts": _int("notify_max_attempts", raw["notify_max_attempts"]),
        "notify_backoff_seconds": _int("notify_backoff_seconds", raw["notify_backoff_seconds"]),
        "webhook_timeout_seconds": _int("webhook_timeout_seconds", raw["webhook_timeout_seconds"]),
    }


def setting_names() -> set[str]:
    return {f.name for f in fields(Settings)}


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for memory databases and other back ends."""
    if not url.startswith("sqlite") or ":memory:" in url:
        return None
    return Path(url.split(":///", 1)[1])
