"""Checking objects in a second process while the first writes.

A bulk import spends about half its time on work that needs no database: reading and
converting its input (MISP events, CSV rows), checking each object, and working out what the
observable index will need of it. `checked_aside` runs that work in a forked child and hands the
results back in batches, so that on a machine with two cores the checks of the next chunk
overlap the write of this one.

Forking copies the parent, so the child iterates the very iterable the parent was given (a
generator over a feed included) without it being pickled. It is meant for processes whose
other threads hold only locks the child never takes (the CLI, whose one other thread copies the
WAL back into the database): a fork copies locks as they are, and one held by another thread
at that moment would never be released in the child. The child runs no database code.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import pickle
import queue
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

try:
    import fcntl
except ImportError:  # not on this platform: pipes keep their default size
    fcntl = None  # type: ignore[assignment]

from canal.analysis.index import Derived
from canal.analysis.observables import TYPES_BY_NAME, Observable
from canal.errors import CanalError
from canal.ingest.stix import CheckedObject, ObjectRejected, check_object
from canal.model.handling import Tlp

#: Objects per message: large enough that the pipe's cost per object is small, small enough
#: that the parent starts writing soon.
BATCH = 500
#: The pipe's buffer: Linux lets any process raise it to 1 MB (/proc/sys/fs/pipe-max-size).
PIPE_BYTES = 1 << 20
#: Batches that may wait, received, for this process to take them: two chunks of ingest.
AHEAD = 20


class AsideFailed(CanalError):
    """The checking process failed or went away; the message says how. What was stored before
    stays stored (each chunk is its own transaction)."""

    code = "ingest-failed"


@dataclass(frozen=True, slots=True)
class Rejected:
    """An object the checks refused, as the parent reports it."""

    stix_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Checked:
    checked: CheckedObject
    derived: Derived | None


def check_one(
    obj: Any,
    derive: Callable[[dict[str, Any]], Derived] | None,
    id_of: Callable[[Any], str | None],
) -> Checked | Rejected:
    """`check_object` of one object, and what `derive` yields of it, or why it was refused."""
    try:
        checked = check_object(obj)
    except ObjectRejected as exc:
        return Rejected(id_of(obj), str(exc))
    return Checked(checked, None if derive is None else derive(checked.obj))


def checked_aside(
    objects: Iterable[Any],
    *,
    derive: Callable[[dict[str, Any]], Derived] | None,
    id_of: Callable[[Any], str | None],
) -> Iterator[Checked | Rejected]:
    """`check_object` (and `derive`) of each object, in order, computed in a forked child.
    When the iterable gathers problems on the side (a `problems` list attribute, as the MISP
    feed reader does), the child's are added to the parent's at the end."""
    # Everything alive now out of the collector's sight: its full collections would write to
    # every page of it (the warninglists index alone is 450 MB), and each write in either
    # process copies the page the fork shared. Measured: the child took 14 s instead of 6.
    gc.freeze()
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    # A batch in one read rather than sixteen of the default 64 KB: each read hands the
    # interpreter lock back and forth between the reader thread and the writing one.
    if fcntl is not None:
        with contextlib.suppress(OSError, AttributeError):  # not Linux, or past the maximum
            fcntl.fcntl(receiving.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    child = context.Process(
        target=_child, args=(objects, derive, id_of, sending), name="canal-checks", daemon=True
    )
    child.start()
    sending.close()
    # The pipe holds 64 KB, a batch about 500 KB: without a reader the child would wait for
    # this process to ask for each batch, which it does not while it writes a chunk, and
    # nothing would overlap. A thread drains the pipe as batches come (its reads release the
    # interpreter lock); up to AHEAD of them wait here, pickled.
    ready: queue.Queue[bytes | None] = queue.Queue(maxsize=AHEAD)
    reader = threading.Thread(
        target=_drain, args=(receiving, ready), name="canal-checks-reader", daemon=True
    )
    reader.start()
    try:
        while True:
            message = ready.get()
            if message is None:
                raise AsideFailed(
                    f"the checking process ended without finishing (exit code {child.exitcode})"
                )
            # From our own forked child, over a pipe only it and this process hold.
            kind, payload = pickle.loads(message)  # noqa: S301
            if kind == "items":
                yield from (_item(row) for row in payload)
            elif kind == "failed":
                raise AsideFailed(f"the checking process failed: {payload}")
            else:  # "done"
                problems = getattr(objects, "problems", None)
                if isinstance(problems, list):
                    problems.extend(payload)
                return
    finally:
        if child.is_alive():
            child.terminate()
        child.join()
        # The reader ends at the pipe's end of file; room for it, should the queue be full.
        while reader.is_alive():
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.05)
        receiving.close()


def _drain(receiving: Connection, ready: queue.Queue[bytes | None]) -> None:
    """Move the child's messages from the pipe to `ready`; None once the pipe is closed."""
    try:
        while True:
            ready.put(receiving.recv_bytes())
    except (EOFError, OSError):
        ready.put(None)


def _child(
    objects: Iterable[Any],
    derive: Callable[[dict[str, Any]], Derived] | None,
    id_of: Callable[[Any], str | None],
    sending: Connection,
) -> None:
    try:
        batch: list[tuple[Any, ...]] = []
        for obj in objects:
            batch.append(_row(obj, derive, id_of))
            if len(batch) >= BATCH:
                sending.send_bytes(pickle.dumps(("items", batch), protocol=5))
                batch = []
        if batch:
            sending.send_bytes(pickle.dumps(("items", batch), protocol=5))
        problems = getattr(objects, "problems", None)
        sending.send_bytes(
            pickle.dumps(("done", problems if isinstance(problems, list) else []), protocol=5)
        )
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
        last = traceback.extract_tb(exc.__traceback__)[-1:]
        where = f" at {last[0].filename}:{last[0].lineno}" if last else ""
        sending.send_bytes(pickle.dumps(("failed", f"{type(exc).__name__}: {exc}{where}")))
    finally:
        sending.close()


def _row(
    obj: Any,
    derive: Callable[[dict[str, Any]], Derived] | None,
    id_of: Callable[[Any], str | None],
) -> tuple[Any, ...]:
    """Plain tuples over the pipe: they pickle several times faster than the dataclasses."""
    item = check_one(obj, derive, id_of)
    if isinstance(item, Rejected):
        return (item.stix_id, item.reason)
    c, found = item.checked, item.derived
    return (
        c.stix_id,
        c.stix_type,
        c.version,
        c.spec_version,
        # Not the dict: unpickled, it cost the writing process 7 us an object, and it needs
        # it only for an object it already holds a version of (parsed again from the text).
        c.text,
        c.revoked,
        None if c.tlp is None else c.tlp.value,
        c.extension,
        None if found is None else tuple((o.type.value, o.value) for o in found.observables),
        None if found is None else tuple(found.refs),
    )


_TLPS = {t.value: t for t in Tlp}


def _item(row: tuple[Any, ...]) -> Checked | Rejected:
    if len(row) == 2:
        return Rejected(row[0], row[1])
    (stix_id, stix_type, version, spec_version, text, revoked, tlp, ext, seen, refs) = row
    checked = CheckedObject(
        stix_id,
        stix_type,
        version,
        spec_version,
        None,
        text,
        revoked,
        None if tlp is None else _TLPS[tlp],
        ext,
    )
    derived = (
        None
        if seen is None
        else Derived(
            tuple(Observable(TYPES_BY_NAME[kind], value) for kind, value in seen),
            frozenset(refs),
        )
    )
    return Checked(checked, derived)
