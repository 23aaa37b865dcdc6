"""The ASGI entry point for servers that start the app themselves (several uvicorn workers,
gunicorn): each worker builds its services from the environment. No worker keeps state another
needs; everything shared lives in the database."""

from __future__ import annotations

from fastapi import FastAPI

from canal.app import build_services
from canal.config import load_settings
from canal.web.app import create_app


def app() -> FastAPI:
    return create_app(build_services(load_settings()))
