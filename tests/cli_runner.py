"""Runs the real `canal` command in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


class Cli:
    def __init__(self, database_url: str, cwd: Path) -> None:
        self.database_url = database_url
        self.cwd = cwd

    def __call__(
        self,
        *args: str,
        token: str | None = None,
        stdin: bytes | None = None,
        env: dict[str, str] | None = None,
    ) -> CliResult:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("CANAL_")}
        environ["CANAL_DATABASE_URL"] = self.database_url
        environ.update(env or {})
        if token:
            environ["CANAL_TOKEN"] = token
        done = subprocess.run(  # noqa: S603 - our own entry point, fixed arguments
            [sys.executable, "-m", "canal", *args],
            cwd=self.cwd,
            env=environ,
            input=stdin,
            capture_output=True,
            timeout=600,
            check=False,
        )
        return CliResult(done.returncode, done.stdout.decode(), done.stderr.decode())
