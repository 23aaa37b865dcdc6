"""Hit/no-hit (R9-R12): is this value in anyone's data, and whom to ask.

Each value is normalised per type (given, or guessed), then matched against the index. The
answer per value is one of: no hit; hit, with the records the asker may read; or "restricted": a
hit on records the asker may not read, naming only whom to contact. A record whose source denied
the asker counts as absent: no trace of it in the answer. A value on a warninglist is no hit
(the answer says which list where the store holds it in a record the asker may know of: for a
denied asker, a flag would be a trace). Every lookup is in the processing log; every hit
notifies the records' sources; rate limits per principal and per type stop enumeration, and
going past them is logged as a security incident.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, select

from canal.analysis.blind import blind, evaluate, finalize
from canal.analysis.index import IN_CHUNK, ObservableIndex
from canal.analysis.observables import (
    TYPES_BY_NAME,
    NormaliseError,
    ObservableType,
    guess_type,
    normalise,
)
from canal.clock import Clock
from canal.errors import InvalidInput, TooMany
from canal.model.audit import AuditEvent, EventTag
from canal.model.handling import Art3Status, Handling, Purpose, Tlp
from canal.model.org import OrgKind, Principal, Role
from canal.model.record import Record, ReleaseState
from canal.model.stix import from_micros, to_micros
from canal.policy import HitAnswer, Policy
from canal.records.service import RecordService
from canal.store.database import Database
from canal.store.orgs import org_names
from canal.store.rate import Charge, RateLimited, take
from canal.store.sql import bulk_insert, driver_rows, rows_where_in
from canal.store.tables import observables, source_notices
from canal.store.unit import WriteUnit, write_unit

#: Each looked-up value of one kind that the index holds: its flag and, unless flagged, the
#: current records carrying it with what the policy's hit decision reads of each (pk NULL: no
#: carrier). Run on the driver's cursor (store.sql.rows_where_in), as the index's own search.
_HITS = (
    "SELECT o.value, o.flag, r.pk, r.stix_id, r.handling_id, r.retention_until, "
    "r.release_state, r.art3_status, r.disseminator_org_id FROM observables o "
    "LEFT JOIN record_observables ro ON ro.observable_id = o.id AND o.flag IS NULL "
    "LEFT JOIN records r ON r.pk = ro.record_pk AND r.is_latest AND NOT r.revoked "
    "WHERE o.kind = {mark} AND o.value IN ({marks})"
)

#: Carriers of a warninglisted value looked up, as many as it takes to tell whether the asker
#: may know of one (its flag is shown only then: otherwise the flag would tell a denied asker
#: that the store holds the value). Bounded: such values can be carried by very many records.
#: Run on the driver's cursor (store.sql.driver_rows).
FLAG_CARRIERS = 50
_FLAGGED_CARRIERS = (
    "SELECT r.pk, r.stix_id, r.handling_id, r.retention_until, r.release_state, r.art3_status, "
    "r.disseminator_org_id FROM observables o "
    "JOIN record_observables ro ON ro.observable_id = o.id "
    "JOIN records r ON r.pk = ro.record_pk AND r.is_latest AND NOT r.revoked "
    f"WHERE o.kind = {{mark}} AND o.value = {{mark}} LIMIT {FLAG_CARRIERS}"
)


#: The values a lookup searches: type, then normalised value, then the positions in the batch
#: that asked for it. Grouped by type as the index is searched (one "kind = ? AND value IN"
#: per type), and built of plain strings: a batch is mostly no-hits, which need nothing more.
Wanted = dict[str, dict[str, list[int]]]


class Outcome(StrEnum):
    NO_HIT = "no-hit"
    HIT = "hit"
    RESTRICTED = "restricted"
    INVALID = "invalid"


@dataclass(slots=True)
class LookupAnswer:
    value: str
    type: str | None = None
    normalised: str | None = None
    outcome: Outcome = Outcome.NO_HIT
    # Tuples until filled: a batch builds one answer per value, mostly no-hits.
    records: tuple[str, ...] = ()
    contacts: tuple[str, ...] = ()
    flag: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"value": self.value, "result": self.outcome.value}
        if self.type:
            out["type"] = self.type
        if self.normalised is not None:
            out["normalised"] = self.normalised
        if self.records:
            out["records"] = self.records
        if self.contacts:
            out["contact"] = self.contacts
        if self.flag:
            out["flag"] = self.flag
        if self.error:
            out["error"] = self.error
        return out


@dataclass(frozen=True, slots=True)
class LookupItem:
    value: str
    type: str | None = None


class TooManyLookups(TooMany):
    """The caller went past its lookup rate; `retry_after` seconds until the window resets."""

    def __init__(self, what: str, retry_after: int) -> None:
        super().__init__(f"too many lookups ({what}); retry in {retry_after} s", retry_after)


@dataclass(frozen=True, slots=True)
class LookupLimits:
    batch: int
    per_minute: int
    per_type_per_minute: int


@dataclass(slots=True)
class _Found:
    """What a lookup found, for its processing-log entry and its sources' notices."""

    hits: int = 0  # values answered "hit"
    restricted: int = 0  # values answered "restricted"
    records: list[str] = field(default_factory=list)  # the records hit: the log's subjects
    notices: list[dict[str, object]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AnsweredLookup:
    """A lookup answered but not yet recorded: its answers go out only once it is."""

    principal: Principal
    purpose: Purpose
    answers: list[LookupAnswer]
    found: _Found


#: Each type's name as a plain string.
_NAMES: dict[ObservableType, str] = {t: t.value for t in ObservableType}

#: Those who are not rate-limited: the local administrator only.
UNLIMITED = frozenset({Role.ADMIN})


class LookupService:
    def __init__(
        self,
        *,
        database: Database,
        clock: Clock,
        policy: Policy,
        records: RecordService,
        index: ObservableIndex,
        limits: LookupLimits,
    ) -> None:
        self.database = database
        self.clock = clock
        self.policy = policy
        self.records = records
        self.index = index
        self.limits = limits
        self.reader = records.reader

    # -- blind lookups (R10) --------------------------------------------------------------

    def evaluate(self, principal: Principal, elements: Sequence[str]) -> list[str]:
        """The hub's half of the oblivious PRF: each blinded element times the hub's key.
        Counted against the same rate limit as lookups: every token costs one evaluation."""
        if len(elements) > self.limits.batch:
            raise InvalidInput(
                "elements", f"{len(elements)} in one batch; the limit is {self.limits.batch}"
            )
        points: list[bytes] = []
        for i, element in enumerate(elements):
            try:
                points.append(bytes.fromhex(element))
            except ValueError:
                raise InvalidInput(f"elements[{i}]", "not hexadecimal") from None
        self._charge(principal, [LookupAnswer(value="", type="blind")] * len(points))
        out: list[str] = []
        for i, point in enumerate(points):
            try:
                out.append(evaluate(self.index.blind_secret, point).hex())
            except ValueError as exc:
                raise InvalidInput(f"elements[{i}]", str(exc)) from None
        return out

    def lookup_blind(
        self, principal: Principal, items: Sequence[LookupItem], *, purpose: Purpose | None = None
    ) -> list[LookupAnswer]:
        """Both halves of a blind lookup in one process (the CLI's --blind): the asker's side
        blinds and unblinds, the hub's side evaluates and matches, and the values themselves
        never reach the matching."""
        answers, wanted = self.prepare(items)
        asked = [
            (f"{kind}:{value}", positions)
            for kind, by_value in wanted.items()
            for value, positions in by_value.items()
        ]
        keyed = [(key, *blind(key)) for key, _ in asked]
        evaluated = (
            self.evaluate(principal, [point.hex() for _, _, point in keyed]) if keyed else []
        )
        tokens = [
            finalize(key, r, bytes.fromhex(e))
            for (key, r, _), e in zip(keyed, evaluated, strict=True)
        ]
        matched = self.lookup_tokens(principal, tokens, purpose=purpose) if tokens else []
        for (_, positions), answer in zip(asked, matched, strict=True):
            for i in positions:
                answers[i].outcome = answer.outcome
                answers[i].records = answer.records
                answers[i].contacts = answer.contacts
                answers[i].flag = answer.flag
        return answers

    def lookup_tokens(
        self, principal: Principal, tokens: Sequence[str], *, purpose: Purpose | None = None
    ) -> list[LookupAnswer]:
        """Hit/no-hit on blind tokens: the same answers as a clear lookup, naming no value."""
        if len(tokens) > self.limits.batch:
            raise InvalidInput(
                "tokens", f"{len(tokens)} tokens in one batch; the limit is {self.limits.batch}"
            )
        answers = [LookupAnswer(value=t, type="token") for t in tokens]
        for a in answers:
            if len(a.value) != 64 or any(ch not in "0123456789abcdef" for ch in a.value):
                a.outcome = Outcome.INVALID
                a.error = "a token is 64 lower-case hexadecimal characters"
        self.index.ensure_blind_tokens(self.database, self.clock)
        wanted = [a.value for a in answers if a.outcome is not Outcome.INVALID]
        with self.database.read() as conn:
            by_token: dict[str, tuple[str, str]] = {}
            for start in range(0, len(wanted), IN_CHUNK):
                for kind, value, blind in conn.execute(
                    select(observables.c.kind, observables.c.value, observables.c.blind).where(
                        observables.c.blind.in_(wanted[start : start + IN_CHUNK])
                    )
                ):
                    by_token[blind] = (kind, value)
        positions: Wanted = {}
        for i, a in enumerate(answers):
            held = by_token.get(a.value)
            if held is not None:
                positions.setdefault(held[0], {}).setdefault(held[1], []).append(i)
        why = self.records.purpose_of(principal, purpose)
        found = self._answer(principal, why, answers, positions)
        self._commit(principal, why, answers, found)
        for a in answers:
            a.type = None if a.outcome is not Outcome.INVALID else a.type
        return answers

    # -- the lookup ------------------------------------------------------------------------

    def prepare(self, items: Sequence[LookupItem]) -> tuple[list[LookupAnswer], Wanted]:
        """An answer per item, and the positions of each distinct normalised value wanted.
        Values that cannot be looked up (no type, unknown type, not normalisable) get their
        answer here, as INVALID with the reason."""
        answers: list[LookupAnswer] = []
        wanted: Wanted = {}
        for i, item in enumerate(items):
            answer = LookupAnswer(item.value, item.type)
            answers.append(answer)
            kind_text = item.type or (guess_type(item.value) or "")
            kind = TYPES_BY_NAME.get(kind_text)
            if kind is None:
                answer.outcome = Outcome.INVALID
                answer.error = (
                    f"unknown type {kind_text!r}"
                    if kind_text
                    else "cannot tell the type of this value; give one"
                )
                continue
            try:
                value = normalise(kind, item.value)
            except ValueError as exc:  # NormaliseError, or a parser's own below it
                answer.outcome = Outcome.INVALID
                answer.error = (
                    str(exc) if isinstance(exc, NormaliseError) else f"not a valid {kind.value}"
                )
                continue
            # The type's name as a plain string (guess_type gives the StrEnum, whose .value is
            # a property: slow once per value of a batch).
            answer.type = kind_text = _NAMES[kind]
            answer.normalised = value
            by_value = wanted.get(kind_text)
            if by_value is None:
                by_value = wanted[kind_text] = {}
            positions = by_value.get(value)
            if positions is None:
                by_value[value] = [i]
            else:
                positions.append(i)
        return answers, wanted

    def lookup(
        self,
        principal: Principal,
        items: Sequence[LookupItem],
        *,
        purpose: Purpose | None = None,
    ) -> list[LookupAnswer]:
        return self.record(self.answer(principal, items, purpose=purpose))

    def answer(
        self,
        principal: Principal,
        items: Sequence[LookupItem],
        *,
        purpose: Purpose | None = None,
        conn: Connection | None = None,
        at_most_carriers: int | None = None,
    ) -> AnsweredLookup:
        """The answers, read-only; `record` writes the lookup down and releases them. `conn`:
        a read transaction of the caller's to search in (the API's, in which it authenticated
        the caller: one transaction less per single-value lookup). `at_most_carriers`:
        TooManyRows, as soon as it shows, where the values are carried by more records (the
        API answers a few values on its event loop only while that stays short)."""
        if len(items) > self.limits.batch:
            raise InvalidInput(
                "values", f"{len(items)} values in one batch; the limit is {self.limits.batch}"
            )
        purpose = self.records.purpose_of(principal, purpose)
        answers, wanted = self.prepare(items)
        found = self._answer(
            principal, purpose, answers, wanted, conn=conn, at_most_carriers=at_most_carriers
        )
        return AnsweredLookup(principal, purpose, answers, found)

    def record(self, answered: AnsweredLookup, *, wait: bool = True) -> list[LookupAnswer]:
        """Count the lookup against the caller's rate limits, log it and notify the sources
        (TooManyLookups past a limit, and nothing written); then its answers. `wait=False`:
        WriteBusy, and nothing written, where another writer is at work (store.database)."""
        self._commit(
            answered.principal, answered.purpose, answered.answers, answered.found, wait=wait
        )
        return answered.answers

    def _answer(
        self,
        principal: Principal,
        purpose: Purpose,
        answers: list[LookupAnswer],
        wanted: Wanted,
        *,
        conn: Connection | None = None,
        at_most_carriers: int | None = None,
    ) -> _Found:
        """Fill in the answers (read-only); returns what the lookup found, for the log and
        the sources' notices."""
        # Only the values the index holds are visited below: in a screening batch, few.
        flags: dict[tuple[str, str], str] = {}
        carriers: dict[tuple[str, str], list[Any]] = {}
        with self.database.read(within=conn) as reading:
            rows_left = at_most_carriers
            for kind, by_value in wanted.items():
                hit_rows = rows_where_in(
                    reading, _HITS, (kind,), list(by_value), chunk=IN_CHUNK, at_most=rows_left
                )
                if rows_left is not None:
                    rows_left -= len(hit_rows)
                for row in hit_rows:
                    if row[1] is not None:
                        flags[kind, row[0]] = row[1]
                    elif row[2] is not None:
                        carriers.setdefault((kind, row[0]), []).append(row[2:])
            for kind, value in flags:
                carriers[kind, value] = driver_rows(reading, _FLAGGED_CARRIERS, (kind, value))
            handlings = {
                hid: self.reader.handlings.get(reading, hid)
                for hid in {c[2] for rows in carriers.values() for c in rows}
            }
            return self._decide(
                principal,
                purpose,
                answers,
                wanted,
                flags=flags,
                carriers=carriers,
                handlings=handlings,
                reading=reading,
            )

    def _decide(
        self,
        principal: Principal,
        purpose: Purpose,
        answers: list[LookupAnswer],
        wanted: Wanted,
        *,
        flags: dict[tuple[str, str], str],
        carriers: dict[tuple[str, str], list[Any]],
        handlings: dict[int, Handling],
        reading: Connection,
    ) -> _Found:
        """Each value's answer from its carriers, decided by the policy; `reading`: the
        search's transaction, in which the contacts of restricted hits are named."""
        now = self.clock.now()
        now_us = to_micros(now)
        orgs: dict[int, tuple[str, OrgKind]] = {}
        # The answer depends on the record only through its handling and state: decide once
        # per distinct combination, not once per record. A restricted hit's contact depends
        # on the handling alone: named once per handling (a value seen everywhere has
        # thousands of carriers).
        decided: dict[tuple[Any, ...], HitAnswer] = {}
        contact_of: dict[int, str] = {}
        found = _Found()
        for kind, value in flags.keys() | carriers.keys():
            flag = flags.get((kind, value))
            known = False  # whether the asker may know of a carrier of a flagged value
            hits: list[str] = []
            contacts: set[str] = set()
            for pk, stix_id, handling_id, retention, release, art3, disseminator in carriers.get(
                (kind, value), ()
            ):
                key = (handling_id, retention > now_us, release, art3, disseminator is not None)
                answer = decided.get(key)
                if answer is None:
                    record = Record(
                        pk=pk,
                        stix_id=stix_id,
                        stix_type=stix_id.partition("--")[0],
                        version=0,
                        spec_version="2.1",
                        date_added=0,
                        handling=handlings[handling_id],
                        handling_id=handling_id,
                        object={},
                        is_latest=True,
                        revoked=False,
                        retention_until=from_micros(retention),
                        release_state=ReleaseState(release),
                        art3_status=Art3Status(art3),
                        disseminator_org_id=disseminator,
                    )
                    answer = self.policy.hit_answer(principal, record, purpose=purpose, now=now)
                    decided[key] = answer
                if answer is HitAnswer.NONE:
                    continue
                if flag:
                    known = True  # a warninglisted value is no hit: nothing logged, no notice
                    break
                if answer is HitAnswer.HIT:
                    hits.append(stix_id)
                else:
                    contact = contact_of.get(handling_id)
                    if contact is None:
                        orgs = orgs or org_names(reading)  # only restricted hits name one
                        contact = contact_of[handling_id] = self._contact(
                            handlings[handling_id], orgs
                        )
                    contacts.add(contact)
                found.records.append(stix_id)
                source = handlings[handling_id].source_org_id
                if source != principal.org.id:
                    found.notices.append(
                        {
                            "org_id": source,
                            "kind": "hit",
                            "record_id": stix_id,
                            "other_record_id": None,
                            "other_party": principal.org.name,
                            "observable": f"{kind}:{value}",
                            "detail": "the asker could read it"
                            if answer is HitAnswer.HIT
                            else "restricted hit",
                        }
                    )
            positions = wanted[kind][value]
            if flag:
                for i in positions if known else ():
                    answers[i].flag = flag
                continue
            outcome = Outcome.HIT if hits else Outcome.RESTRICTED if contacts else None
            if outcome is None:
                continue  # every carrier denied the asker: no hit, as prepared
            if outcome is Outcome.HIT:
                found.hits += len(positions)
            else:
                found.restricted += len(positions)
            records = tuple(sorted(set(hits)))
            named = tuple(sorted(contacts))
            for i in positions:
                a = answers[i]
                a.outcome = outcome
                a.records = records
                a.contacts = named
        return found

    @staticmethod
    def _contact(handling: Handling, orgs: dict[int, tuple[str, OrgKind]]) -> str:
        """Whom a restricted hit on a record of this handling names: the source NCB, except
        where the source is a partner (the secretariat answers for partner data) or the record
        is for named recipients only (TLP:AMBER+STRICT and RED: the secretariat relays the
        request to the source)."""
        name, kind = orgs.get(handling.source_org_id, ("", OrgKind.MEMBER))
        if kind is OrgKind.PARTNER or handling.tlp in {Tlp.AMBER_STRICT, Tlp.RED}:
            return next(
                (n for n, k in orgs.values() if k is OrgKind.SECRETARIAT), "the secretariat"
            )
        return name

    def _take(self, unit: WriteUnit, principal: Principal, answers: Sequence[LookupAnswer]) -> None:
        """Count the values against the caller's rate limits, in the caller's transaction."""
        if principal.role in UNLIMITED:
            return
        per_type: dict[str, int] = {}
        for a in answers:
            per_type[a.type or "unknown"] = per_type.get(a.type or "unknown", 0) + 1
        who = f"{principal.org.id}:{principal.token_id or principal.name}"
        charges = [Charge(f"lookup:{who}", len(answers), self.limits.per_minute)]
        charges += [
            Charge(f"lookup:{who}:{kind}", n, self.limits.per_type_per_minute)
            for kind, n in per_type.items()
        ]
        take(unit.conn, charges, now=unit.now)

    def _limited(
        self,
        principal: Principal,
        answers: Sequence[LookupAnswer],
        exc: RateLimited,
        *,
        wait: bool = True,
    ) -> None:
        """Log the refused attempt as a security incident, then refuse."""
        with write_unit(self.database, self.clock, wait=wait) as unit:
            unit.log(
                AuditEvent(
                    action=EventTag.SECURITY_RATE_LIMIT,
                    actor=principal.label,
                    org_id=principal.org.id or None,
                    summary={"what": exc.key.split(":", 2)[-1], "values": len(answers)},
                )
            )
        raise TooManyLookups(exc.what, exc.retry_after) from None

    def _charge(self, principal: Principal, answers: Sequence[LookupAnswer]) -> None:
        try:
            with write_unit(self.database, self.clock) as unit:
                self._take(unit, principal, answers)
        except RateLimited as exc:
            self._limited(principal, answers, exc)

    def _commit(
        self,
        principal: Principal,
        purpose: Purpose,
        answers: Sequence[LookupAnswer],
        found: _Found,
        *,
        wait: bool = True,
    ) -> None:
        """One transaction per lookup: the rate limit, the processing-log entry and the source
        notices. Over the limit, nothing of the answer is written and the caller gets a 429."""
        summary = {"values": len(answers), "hits": found.hits, "restricted": found.restricted}
        try:
            with write_unit(self.database, self.clock, wait=wait) as unit:
                self._take(unit, principal, answers)
                unit.log(
                    AuditEvent(
                        action=EventTag.LOOKUP,
                        actor=principal.label,
                        org_id=principal.org.id or None,
                        purpose=purpose.value,
                        summary=summary,
                        subjects=tuple(dict.fromkeys(found.records)),
                    )
                )
                add_notices(unit, found.notices)
        except RateLimited as exc:
            self._limited(principal, answers, exc, wait=wait)


def add_notices(unit: WriteUnit, notices: Sequence[dict[str, object]]) -> None:
    # A batch lookup notifies a notice per hit: tens of thousands of rows.
    bulk_insert(unit.conn, source_notices, [{**n, "created_at": unit.now} for n in notices])


def notices_for(
    database: Database, principal: Principal, *, limit: int = 100
) -> list[dict[str, object]]:
    with database.read() as conn:
        rows = conn.execute(
            select(source_notices)
            .where(source_notices.c.org_id == principal.org.id)
            .order_by(source_notices.c.id.desc())
            .limit(limit)
        ).all()
    return [dict(row._mapping) for row in rows]  # noqa: SLF001 - SQLAlchemy's API
