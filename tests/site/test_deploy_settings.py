"""The production variables of docs/security.md give a clean `manage.py check --deploy` and the
HTTPS behaviour behind a TLS proxy. Settings are read once at start-up, so each case runs in a
process of its own with exactly those variables."""

import json
import os
import subprocess
import sys

from tests.processes import ROOT

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "k3y-" + "x7Qp9zL2mN4vB8cR1tY6wE0uI5oA3sD" * 2,
    "ALLOWED_HOSTS": "greenai.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://greenai.example.com",
    "SECURE_PROXY_SSL": "1",
    "SECURE_HSTS_PRELOAD": "1",
}


def _env(tmp_path, **extra) -> dict:
    # The browser tests' DJANGO_ALLOW_ASYNC_UNSAFE is theirs, not a production variable.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SECURE_", "DJANGO_SETTINGS", "DJANGO_ALLOW_ASYNC"))
        and key not in PRODUCTION
    }
    env.update(GREENAI_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="greenai_site.settings")
    env.update(extra)
    return env


def _check_deploy(env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "DEBUG"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_the_production_variables(tmp_path):
    done = _check_deploy(_env(tmp_path, **PRODUCTION))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout


def test_check_deploy_warns_without_them(tmp_path):
    done = _check_deploy(_env(tmp_path))
    assert done.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in done.stderr


HEADERS_SCRIPT = """
import json
import django
django.setup()
from django.conf import settings
from django.test import Client
# The page's {% static %} without a collectstatic manifest (not what is under test here).
settings.STORAGES = {
    **settings.STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
client = Client(HTTP_HOST="greenai.example.com")
plain = client.get("/accounts/login/")
tls = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
print(json.dumps({
    "plain_status": plain.status_code,
    "plain_location": plain.get("Location"),
    "tls_status": tls.status_code,
    "hsts": tls.get("Strict-Transport-Security"),
    "csrf_cookie_secure": bool(tls.cookies["csrftoken"]["secure"]),
    "csp": tls.get("Content-Security-Policy"),
}))
"""


def test_behind_the_tls_proxy_http_is_redirected_and_https_gets_hsts_and_secure_cookies(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", HEADERS_SCRIPT],
        cwd=ROOT,
        env=_env(tmp_path, **PRODUCTION),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["plain_status"] == 301
    assert seen["plain_location"] == "https://greenai.example.com/accounts/login/"
    assert seen["tls_status"] == 200
    assert seen["hsts"] == "max-age=31536000; includeSubDomains; preload"
    assert seen["csrf_cookie_secure"] is True
    assert "default-src 'self'" in seen["csp"]
