"""Pulling from other TAXII 2.1 servers: incremental, resumable, under the rules of the source
the feed is recorded for. Where each (server, collection) stopped lives in the database.

The walk pages with `next` and remembers, after each page, the remote date_added up to which
everything has been taken. Servers that give many objects the same date_added (medallion gives
a whole POST one) make `added_after=<last>` lose the rest of a tie, so the position only moves
past a page once the next page is seen to start later, and to the last date_added once the walk
ends. Resuming re-reads at most one tie, which ingest acknowledges as duplicates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import requests
from requests.auth import AuthBase, HTTPBasicAuth
from sqlalchemy import and_, or_, select, update
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import ApiRoot, Collection, Server

from canal.clock import Clock
from canal.errors import CanalError
from canal.ingest.service import IngestReport, IngestService
from canal.model.extension import CANAL_EXTENSION_ID
from canal.model.handling import HandlingDefaults, is_country_token
from canal.model.org import Org, Principal
from canal.model.stix import parse_timestamp, to_micros
from canal.store.database import Database
from canal.store.orgs import list_orgs
from canal.store.tables import taxii_pulls

T21 = "application/taxii+json;version=2.1"
PAGE_SIZE = 1000
TIMEOUT = 60


class PullError(CanalError):
    """The remote could not be read (unreachable, refused, or not TAXII 2.1)."""

    code = "pull-failed"


class BearerAuth(AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


@dataclass(frozen=True, slots=True)
class Credentials:
    user: str | None = None
    password: str | None = None
    bearer: str | None = None

    def auth(self) -> AuthBase | None:
        if self.bearer:
            return BearerAuth(self.bearer)
        if self.password:
            return HTTPBasicAuth(self.user or "canal", self.password)
        return None


@dataclass
class PullResult:
    server: str
    collection: str
    pages: int = 0
    objects: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    rejections: list[dict[str, Any]] = field(default_factory=list)
    #: The remote date_added up to which everything has been taken.
    position: str | None = None
    error: str | None = None

    @property
    def rejected(self) -> int:
        return self.counts.get("rejected", 0)

    def add(self, report: IngestReport) -> None:
        for status, n in report.summary().items():
            self.counts[status] = self.counts.get(status, 0) + n
        self.rejections.extend(r.to_json() for r in report.rejected[:100])

    def to_json(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "collection": self.collection,
            "pages": self.pages,
            "objects": self.objects,
            **self.counts,
            "position": self.position,
            "error": self.error,
            "rejections": self.rejections[:100],
        }


def _micros(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        return to_micros(parse_timestamp(raw))
    except ValueError:
        return None


def find_collection(url: str, wanted: str, credentials: Credentials) -> Collection:
    """The collection `wanted` (id, alias or title) at `url`: a discovery URL or an API root.
    Discovery and collection listing go through taxii2-client."""
    auth = credentials.auth()
    try:
        server = Server(url, auth=auth)
        roots = server.api_roots if "api_roots" in server._raw else []  # noqa: SLF001
        if not roots:
            roots = [ApiRoot(url, auth=auth)]
        for root in roots:
            for found in root.collections:
                if wanted in {found.id, found.alias, found.title}:
                    return found
    except (requests.RequestException, TAXIIServiceException, ValueError, OSError) as exc:
        raise PullError(f"{url}: {exc}") from None
    raise PullError(f"{url}: no collection {wanted!r} (or none this account may see)")


def sanitise_extension(obj: Any, known_orgs: set[str], source: Org) -> Any:
    """An object from another canal names orgs of that canal in its allow and deny lists. Names
    unknown here are dropped from a deny list (no such org can read here); an allow list that
    loses every entry keeps only the source here, never opening up."""
    if not isinstance(obj, dict):
        return obj
    extensions = obj.get("extensions")
    if not isinstance(extensions, dict) or not isinstance(extensions.get(CANAL_EXTENSION_ID), dict):
        return obj
    ext = dict(extensions[CANAL_EXTENSION_ID])
    for key in ("allow", "deny"):
        names = ext.get(key)
        if not isinstance(names, list):
            continue
        kept = [
            n for n in names if not isinstance(n, str) or is_country_token(n) or n in known_orgs
        ]
        if key == "allow" and names and not kept:
            kept = [source.name]
        ext[key] = kept
        if not kept:
            del ext[key]
    return {**obj, "extensions": {**extensions, CANAL_EXTENSION_ID: ext}}


class PullService:
    def __init__(self, *, database: Database, clock: Clock, ingest: IngestService) -> None:
        self.database = database
        self.clock = clock
        self.ingest = ingest

    # State

    def _state(self, server: str, collection: str) -> Any:
        with self.database.read() as conn:
            return conn.execute(
                select(taxii_pulls).where(
                    and_(
                        taxii_pulls.c.server_url == server,
                        taxii_pulls.c.collection_id == collection,
                    )
                )
            ).first()

    def _ensure(self, server: str, collection: str, source: Org) -> None:
        if self._state(server, collection) is not None:
            return
        with self.database.write() as conn:
            if (
                conn.execute(
                    select(taxii_pulls.c.id).where(
                        and_(
                            taxii_pulls.c.server_url == server,
                            taxii_pulls.c.collection_id == collection,
                        )
                    )
                ).first()
                is None
            ):
                conn.execute(
                    taxii_pulls.insert().values(
                        server_url=server, collection_id=collection, source_org_id=source.id
                    )
                )

    def _save(self, server: str, collection: str, **values: Any) -> None:
        with self.database.write() as conn:
            conn.execute(
                update(taxii_pulls)
                .where(
                    and_(
                        taxii_pulls.c.server_url == server,
                        taxii_pulls.c.collection_id == collection,
                    )
                )
                .values(**values)
            )

    def position(self, server: str, collection: str) -> str | None:
        row = self._state(server, collection)
        return None if row is None else row.added_after

    # Scheduling: several workers may run the scheduler; a lease in the database makes one of
    # them take each due feed.

    def claim(self, server: str, collection: str, source: Org, owner: str, lease_s: int) -> bool:
        self._ensure(server, collection, source)
        now = to_micros(self.clock.now())
        lease_until = now + lease_s * 1_000_000
        with self.database.write() as conn:
            result = conn.execute(
                update(taxii_pulls)
                .where(
                    and_(
                        taxii_pulls.c.server_url == server,
                        taxii_pulls.c.collection_id == collection,
                        or_(taxii_pulls.c.next_due_at.is_(None), taxii_pulls.c.next_due_at <= now),
                        or_(taxii_pulls.c.lease_until.is_(None), taxii_pulls.c.lease_until < now),
                    )
                )
                .values(lease_until=lease_until, lease_owner=owner)
            )
            return bool(result.rowcount)

    def release(self, server: str, collection: str, every_s: int, error: str | None) -> None:
        due = self.clock.now() + timedelta(seconds=every_s)
        self._save(
            server,
            collection,
            lease_until=None,
            lease_owner=None,
            next_due_at=to_micros(due),
            last_error=error,
        )

    def next_due(self, server: str, collection: str) -> int | None:
        row = self._state(server, collection)
        return None if row is None else row.next_due_at

    # The pull

    def pull(
        self,
        url: str,
        collection: str,
        *,
        principal: Principal,
        source: Org,
        defaults: HandlingDefaults = HandlingDefaults(),
        credentials: Credentials = Credentials(),
        page_size: int = PAGE_SIZE,
        progress: Callable[[int], None] | None = None,
    ) -> PullResult:
        """Take what `collection` at `url` added since the last pull. Raises PullError when the
        remote fails; every page taken before that stays taken and the position saved."""
        remote = find_collection(url, collection, credentials)
        if not remote.can_read:
            raise PullError(f"{url}: the collection {collection!r} cannot be read")
        self._ensure(url, collection, source)
        result = PullResult(url, collection)
        safe = self.position(url, collection)
        result.position = safe
        with self.database.read() as conn:
            known = {org.name for org in list_orgs(conn)}
        session = requests.Session()
        session.auth = credentials.auth()
        base: dict[str, Any] = {"limit": page_size}
        if safe is not None:
            base["added_after"] = safe
        next_token: str | None = None
        previous_last: str | None = None
        try:
            while True:
                params = dict(base)
                if next_token is not None:
                    params["next"] = next_token
                body, first, last = self._page(session, remote.objects_url, params)
                objects = body.get("objects") or []
                if objects:
                    report = self.ingest.ingest_objects(
                        [sanitise_extension(o, known, source) for o in objects],
                        principal=principal,
                        source=source,
                        defaults=defaults,
                    )
                    result.add(report)
                result.pages += 1
                result.objects += len(objects)
                more = bool(body.get("more", False))
                first_us, previous_us = _micros(first), _micros(previous_last)
                if previous_us is not None and first_us is not None and first_us > previous_us:
                    safe = previous_last
                if not more and (last or previous_last):
                    safe = last or previous_last
                previous_last = last or previous_last
                self._save(
                    url,
                    collection,
                    added_after=safe,
                    objects_pulled=taxii_pulls.c.objects_pulled + len(objects),
                    last_run_at=to_micros(self.clock.now()),
                )
                result.position = safe
                if progress:
                    progress(result.objects)
                if not more:
                    return result
                next_token = body.get("next")
                if not next_token:
                    # `more` without `next`: carry on by date_added (taxii2-client would loop
                    # on page 1 here).
                    if last is None:
                        raise PullError(f"{url}: the server says more but gives no way on")
                    base["added_after"] = last
        finally:
            session.close()

    @staticmethod
    def _page(
        session: requests.Session, url: str, params: dict[str, Any]
    ) -> tuple[dict[str, Any], str | None, str | None]:
        try:
            response = session.get(url, params=params, headers={"Accept": T21}, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise PullError(f"{url}: {exc}") from None
        if response.status_code != 200:
            raise PullError(f"{url}: HTTP {response.status_code}: {response.text[:300]}")
        try:
            body = response.json()
        except (ValueError, requests.RequestException) as exc:
            raise PullError(f"{url}: the page is not JSON ({exc})") from None
        if not isinstance(body, dict):
            raise PullError(f"{url}: the page is not a TAXII envelope")
        return (
            body,
            response.headers.get("X-TAXII-Date-Added-First"),
            response.headers.get("X-TAXII-Date-Added-Last"),
        )


@dataclass(frozen=True, slots=True)
class Feed:
    """One scheduled pull, from the CANAL_PULL_FEEDS file."""

    url: str
    collection: str
    source: str
    every: int
    credentials: Credentials
    #: Handling defaults as text (tlp, pap, audience, allow, deny, purposes), as on the CLI.
    handling: dict[str, str]


_HANDLING_KEYS = ("tlp", "pap", "audience", "allow", "deny", "purposes")


def load_feeds(text: str, environ: dict[str, str], *, where: str = "feeds") -> list[Feed]:
    """Feeds from TOML text: `[[feed]]` tables with url, collection, source, every (seconds,
    default 3600), and optionally user, password_env or bearer_env (names of environment
    variables holding the secret, so that no secret sits in the file) and handling defaults."""
    import tomllib  # noqa: PLC0415 - only the scheduler reads the file

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PullError(f"{where}: not TOML ({exc})") from None
    feeds: list[Feed] = []
    for index, item in enumerate(data.get("feed", [])):
        name = f"{where}: feed {index + 1}"
        if not isinstance(item, dict):
            raise PullError(f"{name}: must be a table")
        missing = [k for k in ("url", "collection", "source") if not item.get(k)]
        if missing:
            raise PullError(f"{name}: needs {', '.join(missing)}")
        every = item.get("every", 3600)
        if not isinstance(every, int) or every <= 0:
            raise PullError(f"{name}: every must be a positive number of seconds")

        def secret(key: str, feed: str = name, item: dict[str, Any] = item) -> str | None:
            var = item.get(key)
            if var is None:
                return None
            if str(var) not in environ:
                raise PullError(f"{feed}: the environment variable {var} is not set")
            return environ[str(var)]

        credentials = Credentials(
            user=item.get("user"), password=secret("password_env"), bearer=secret("bearer_env")
        )
        handling = {k: str(item[k]) for k in _HANDLING_KEYS if k in item}
        feeds.append(
            Feed(
                str(item["url"]),
                str(item["collection"]),
                str(item["source"]),
                every,
                credentials,
                handling,
            )
        )
    return feeds
