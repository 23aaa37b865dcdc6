from __future__ import annotations

import re
from pathlib import Path

import pytest

from canal.config import SETTINGS, Environment, load_settings, setting_names
from canal.errors import InvalidInput

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_declared_once_and_documented_in_the_readme():
    assert {s.name for s in SETTINGS} == setting_names()
    text = README.read_text()
    for setting in SETTINGS:
        assert f"CANAL_{setting.name.upper()}" in text, setting.name


def test_environment_overrides_defaults_and_flags_override_both():
    settings = load_settings(environ={"CANAL_PORT": "9000"})
    assert settings.port == 9000
    assert load_settings(environ={"CANAL_PORT": "9000"}, port=7000).port == 7000
    assert settings.environment is Environment.DEVELOPMENT


def test_postgres_urls_get_the_installed_driver():
    settings = load_settings(environ={"CANAL_DATABASE_URL": "postgresql://u@h/db"})
    assert settings.database_url == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    ("environ", "needle"),
    [
        ({"CANAL_PORT": "eighty"}, "CANAL_PORT"),
        ({"CANAL_RETENTION_YEARS": "0"}, "positive"),
        ({"CANAL_ENVIRONMENT": "staging"}, "production"),
        ({"CANAL_ENVIRONMENT": "production"}, "CANAL_SECRET_KEY"),
    ],
)
def test_bad_settings_are_named(environ, needle):
    with pytest.raises(InvalidInput, match=re.escape(needle)):
        load_settings(environ=environ)
