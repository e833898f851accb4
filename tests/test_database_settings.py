"""Database connections persist by default (web and worker), checked before reuse."""

import json
import os
import subprocess
import sys

from tests.processes import ROOT

_PRINT = (
    "import django, json; django.setup(); from django.conf import settings; "
    "d = settings.DATABASES['default']; "
    "print(json.dumps([d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS']]))"
)


def database_settings(**env) -> list:
    environment = {k: v for k, v in os.environ.items() if k != "DB_CONN_MAX_AGE"}
    environment.update(DJANGO_SETTINGS_MODULE="greenai_site.settings", **env)
    done = subprocess.run(
        [sys.executable, "-c", _PRINT],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_connections_are_kept_60_s_by_default_with_health_checks():
    assert database_settings() == [60, True]


def test_db_conn_max_age_sets_the_lifetime_and_0_closes_after_each_request():
    assert database_settings(DB_CONN_MAX_AGE="600") == [600, True]
    assert database_settings(DB_CONN_MAX_AGE="0") == [0, True]


def test_a_negative_db_conn_max_age_is_refused_by_name():
    environment = {**os.environ, "DB_CONN_MAX_AGE": "-5"}
    environment["DJANGO_SETTINGS_MODULE"] = "greenai_site.settings"
    done = subprocess.run(
        [sys.executable, "-c", _PRINT], cwd=ROOT, env=environment, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "DB_CONN_MAX_AGE" in done.stderr
