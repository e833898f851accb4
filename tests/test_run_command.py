"""The README's run command: ./run seeds the demo, serves it, keeps it live, stops cleanly.

./run is started as a user would start it, in a fresh GREENAI_VAR_DIR with a small history. On
the embedded default it uses SQLite and the filesystem broker there; in the PostgreSQL pass of
the suite it gets a fresh PostgreSQL database of its own (and still the filesystem broker, so its
beat never feeds tasks to other tests' workers).
"""

import os
import re
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
import requests
from django.conf import settings

from tests.processes import ROOT, free_port

pytestmark = pytest.mark.worker

STARTUP_TIMEOUT_S = 300  # a first run may collect the static files (about 30 s of CPU)
PASSWORD = "run-test-password"

LIVE_SAMPLES_SQL = """
SELECT count(*) FROM collectors_rawsample r
JOIN collectors_device d ON d.id = r.device_id
JOIN collectors_host h ON h.id = d.host_id
WHERE h.hostname = 'demo-live-01'
"""
LIVE_FACTS_SQL = """
SELECT count(*) FROM assessments_hourlydevicefact f
JOIN collectors_device d ON d.id = f.device_id
JOIN collectors_host h ON h.id = d.host_id
WHERE h.hostname = 'demo-live-01'
"""
HISTORY_SAMPLES_SQL = "SELECT count(*) FROM collectors_rawsample"
REVOKE_LIVE_SQL = (
    "UPDATE collectors_collector SET revoked_at = CURRENT_TIMESTAMP WHERE name = 'demo-live'"
)
DEACTIVATE_ENGINEER_SQL = "UPDATE auth_user SET is_active = FALSE WHERE username = 'engineer'"
ACTIVE_ENGINEER_SQL = "SELECT count(*) FROM auth_user WHERE username = 'engineer' AND is_active"
LIVE_REVOKED_SQL = (
    "SELECT count(*) FROM collectors_collector WHERE name = 'demo-live' AND revoked_at IS NOT NULL"
)


class RunDatabase:
    """The database ./run uses: a SQLite file in its var dir, or a fresh PostgreSQL database."""

    def __init__(self, var_dir: Path):
        self.var_dir = var_dir
        self.postgres = settings.DATABASE_IS_POSTGRES
        if self.postgres:
            db = settings.DATABASES["default"]
            self.server = {
                "host": db.get("HOST") or "127.0.0.1",
                "port": db.get("PORT") or 5432,
                "user": db.get("USER") or "postgres",
                "password": db.get("PASSWORD") or None,
            }
            self.name = f"{db['TEST']['NAME']}_run"
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}"')
            self._admin(f'CREATE DATABASE "{self.name}"')

    def env(self) -> dict[str, str]:
        if not self.postgres:
            return {}
        s = self.server
        auth = s["user"] + (f":{s['password']}" if s["password"] else "")
        return {"DATABASE_URL": f"postgres://{auth}@{s['host']}:{s['port']}/{self.name}"}

    def count(self, sql: str) -> int:
        try:
            if self.postgres:
                with psycopg.connect(dbname=self.name, **self.server) as conn:
                    return conn.execute(sql).fetchone()[0]
            path = self.var_dir / "greenai.sqlite3"
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
                return conn.execute(sql).fetchone()[0]
        except (sqlite3.OperationalError, psycopg.errors.UndefinedTable):
            return 0  # not migrated yet

    def execute(self, sql: str) -> None:
        if self.postgres:
            with psycopg.connect(dbname=self.name, autocommit=True, **self.server) as conn:
                conn.execute(sql)
            return
        with sqlite3.connect(self.var_dir / "greenai.sqlite3", timeout=10) as conn:
            conn.execute(sql)

    def drop(self):
        if self.postgres:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def _admin(self, sql: str):
        with psycopg.connect(dbname="postgres", autocommit=True, **self.server) as conn:
            conn.execute(sql)


def _processes_of(var_dir: Path) -> list[int]:
    """Processes still running with this var dir in their environment (ours only)."""
    marker = f"GREENAI_VAR_DIR={var_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def _wait_for(what: str, check, process, log: Path, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"./run exited ({process.returncode}) before {what}:\n{log.read_text()}")
        value = check()
        if value:
            return value
        time.sleep(1)
    pytest.fail(f"./run: no {what} within {timeout_s} s:\n{log.read_text()[-6000:]}")


def _log_in(base_url: str) -> requests.Session | None:
    session = requests.Session()
    try:
        page = session.get(f"{base_url}/accounts/login/", timeout=10)
    except requests.ConnectionError:
        return None
    if page.status_code != 200:
        return None
    answer = session.post(
        f"{base_url}/accounts/login/",
        data={
            "username": "admin",
            "password": PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": f"{base_url}/accounts/login/"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text[:2000]
    assert not answer.url.endswith("/accounts/login/"), "the printed login did not work"
    return session


def _start_run(env: dict, log: Path) -> subprocess.Popen:
    with open(log, "ab") as log_file:
        # As a terminal starts it: SIGINT at its default even where this suite runs as a
        # background job (which ignores SIGINT, and a shell cannot trap a signal ignored at
        # its start).
        return subprocess.Popen(
            ["env", "--default-signal=INT", str(ROOT / "run")],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _assert_all_stopped(var_dir: Path, base_url: str):
    deadline = time.monotonic() + 60  # generous: the machine may be loaded
    while _processes_of(var_dir) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _processes_of(var_dir) == [], "./run left processes behind"
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base_url}/accounts/login/", timeout=5)


def test_run_command_serves_the_demo_live_and_stops_on_ctrl_c(tmp_path):
    var_dir = tmp_path / "var"
    port = free_port()
    database = RunDatabase(var_dir)
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "CELERY_BROKER_DIR", "SECRET_KEY"}
    }
    env.update(
        GREENAI_VAR_DIR=str(var_dir),
        PORT=str(port),
        DEMO_DAYS="1",
        DEMO_PASSWORD=PASSWORD,
        ROLLUP_EVERY_SECONDS="5",
        WEB_WORKERS="1",
        **database.env(),
    )
    log = tmp_path / "run.log"
    process = _start_run(env, log)
    base_url = f"http://127.0.0.1:{port}"
    try:
        session = _wait_for(
            "login page", lambda: _log_in(base_url), process, log, STARTUP_TIMEOUT_S
        )
        overview = session.get(f"{base_url}/", timeout=60)
        assert overview.status_code == 200
        assert "/accounts/login/" not in overview.url  # logged in, not sent back to log in
        text = log.read_text()
        assert "Demo logins" in text and PASSWORD in text
        # BIND unset: this machine only.
        assert f"Listening at: http://127.0.0.1:{port}" in text
        assert re.search(r"\[seed\] Ingesting samples .*100%", text)
        # A day of history was seeded: from yesterday's midnight, so just after midnight UTC
        # it is exactly one day of 5-minute samples for the 18 devices.
        assert database.count(HISTORY_SAMPLES_SQL) >= 18 * 288

        # The live agent's samples arrive, and keep arriving.
        first = _wait_for(
            "live samples", lambda: database.count(LIVE_SAMPLES_SQL), process, log, 90
        )
        _wait_for(
            "more live samples",
            lambda: database.count(LIVE_SAMPLES_SQL) > first,
            process,
            log,
            60,
        )
        # Beat schedules the rollup; the worker turns the live samples into hourly facts.
        _wait_for("live facts", lambda: database.count(LIVE_FACTS_SQL), process, log, 90)
        text = log.read_text()
        for prefix in ("[run]", "[seed]", "[web]", "[worker]", "[agent]"):
            assert prefix in text, f"no {prefix} lines in the log"

        # Ctrl-C: the terminal sends SIGINT to the foreground process group.
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=60) == 130
        assert "[run] Stopped" in log.read_text()
        _assert_all_stopped(var_dir, base_url)

        # Started again on the same data: the demo's history is completed up to now (nothing
        # stored twice), the same login works; SIGTERM (a service manager's stop) stops it too.
        live = database.count(LIVE_SAMPLES_SQL)
        log = tmp_path / "run-again.log"
        process = _start_run(env, log)
        _wait_for("login page again", lambda: _log_in(base_url), process, log, 120)
        text = log.read_text()
        assert "Completing the demo's 1 days of history" in text
        assert "Demo logins" not in text and PASSWORD not in text  # printed once only
        _wait_for(
            "live samples after the restart",
            lambda: database.count(LIVE_SAMPLES_SQL) > live,
            process,
            log,
            60,
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 143
        _assert_all_stopped(var_dir, base_url)

        # An administrator revoked the live collector and deactivated a login: a start neither
        # re-activates them nor resets anything; the live agent is off.
        database.execute(REVOKE_LIVE_SQL)
        database.execute(DEACTIVATE_ENGINEER_SQL)
        log = tmp_path / "run-revoked.log"
        process = _start_run(env, log)
        _wait_for("login page after the revocation", lambda: _log_in(base_url), process, log, 120)
        text = log.read_text()
        assert "The live agent is off: the collector 'demo-live' is revoked." in text
        assert "[agent]" not in text
        assert database.count(LIVE_REVOKED_SQL) == 1
        assert database.count(ACTIVE_ENGINEER_SQL) == 0
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 143
        _assert_all_stopped(var_dir, base_url)
    except BaseException:
        print(f"--- end of {log.name} ---\n{log.read_text(errors='replace')[-8000:]}")
        raise
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        for pid in _processes_of(var_dir):  # only processes this test started
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        database.drop()


def test_run_command_refuses_a_port_in_use_before_touching_anything(tmp_path):
    var_dir = tmp_path / "var"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "GREENAI_VAR_DIR": str(var_dir), "PORT": str(port)}
        env["GREENAI_SKIP_INSTALL"] = "1"
        done = subprocess.run(
            [str(ROOT / "run")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 1
    assert f"Port {port} is already in use" in done.stdout
    assert not (var_dir / "greenai.sqlite3").exists()  # nothing migrated or seeded
