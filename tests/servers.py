"""Real servers on loopback for tests that need HTTP on a socket: canal under uvicorn in a
thread, medallion (the OASIS TAXII 2.1 reference server) in a subprocess, and a proxy that can
cut a response in the middle to play a remote that goes away."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import requests
import uvicorn

T21 = "application/taxii+json;version=2.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(url, timeout=2)
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
        else:
            return


@contextlib.contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """`app` under uvicorn on a loopback port, in a thread; yields the base URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=free_port(), log_level="error", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


class Medallion:
    """medallion 3.0.0 with its memory backend, one API root (`/api1/`) and one collection,
    filled by what the test posts."""

    USER, PASSWORD = "admin", "Password0"

    def __init__(self, workdir: Path, page_size: int = 100) -> None:
        self.collection = str(uuid.uuid4())
        self.port = free_port()
        data = {
            "/discovery": {
                "title": "medallion",
                "default": "/api1/",
                "api_roots": ["/api1/"],
            },
            "api1": {
                "information": {
                    "title": "api1",
                    "versions": [T21],
                    "max_content_length": 100_000_000,
                },
                "status": [],
                "collections": [
                    {
                        "id": self.collection,
                        "title": "feed",
                        "can_read": True,
                        "can_write": True,
                        "media_types": ["application/stix+json;version=2.1"],
                        "objects": [],
                        "manifest": [],
                    }
                ],
            },
        }
        (workdir / "medallion-data.json").write_text(json.dumps(data))
        config = {
            "backend": {
                "module": "medallion.backends.memory_backend",
                "module_class": "MemoryBackend",
                "filename": str(workdir / "medallion-data.json"),
            },
            "users": {self.USER: self.PASSWORD},
            "taxii": {"max_page_size": page_size},
        }
        self.config = workdir / "medallion.json"
        self.config.write_text(json.dumps(config))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
            [
                sys.executable,
                "-m",
                "medallion.scripts.run",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "ERROR",
                str(self.config),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self.url + "/taxii2/")
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)

    def add(self, objects: list[dict[str, Any]]) -> dict[str, Any]:
        response = requests.post(
            f"{self.url}/api1/collections/{self.collection}/objects/",
            data=json.dumps({"objects": objects}),
            headers={"Accept": T21, "Content-Type": T21},
            auth=(self.USER, self.PASSWORD),
            timeout=120,
        )
        response.raise_for_status()
        return dict(response.json())


class CuttingProxy:
    """A TCP proxy to a loopback port. `cut_next_response()` makes it forward only the first
    few kilobytes of the next response and then drop the connection: the remote died in the
    middle of a page."""

    KEEP = 2048

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = int(self.listener.getsockname()[1])
        self._cut = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut_next_response(self) -> None:
        self._cut.set()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stopped = True
        self.listener.close()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, responses: bool) -> None:
        sent = 0
        cutting = False
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if responses and not cutting and self._cut.is_set():
                    self._cut.clear()
                    cutting, sent = True, 0
                if cutting:
                    dst.sendall(data[: max(0, self.KEEP - sent)])
                    sent += len(data)
                    if sent >= self.KEEP:
                        break
                    continue
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()
