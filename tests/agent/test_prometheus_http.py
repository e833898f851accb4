"""The telemetry sources' HTTP side against real servers: Prometheus with TLS, client
certificates and basic auth (its --web.config.file), its query cost and catch-up after a long
stop, and an exporter behind a bearer token."""

import base64
import ssl
import subprocess
import time

import pytest

from collectors.agent.sources import SourceError
from collectors.agent.sources.dcgm import DcgmSource
from collectors.agent.sources.httpget import HttpOptions
from collectors.agent.sources.prometheus import MAX_WINDOW_S, PrometheusSource
from collectors.agent.sources.telemetry import KIND_ENERGY
from tests.agent.dcgm_exporter_fixture import DcgmExporterFixture, ExportedGpu
from tests.agent.prometheus_server import MISSING, PROMETHEUS, PrometheusServer

ENERGY = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"
# bcrypt of "scrape-secret" (cost 4, the least bcrypt allows: quick to check in tests).
PASSWORD = "scrape-secret"
PASSWORD_HASH = "$2b$04$czDS.3LsttxHs04/hhf4zueLMG6PTCZM6WwG/2HufMeY8QHrl4sNW"

needs_prometheus = pytest.mark.skipif(PROMETHEUS is None, reason=MISSING)


def openssl(*args: str, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(directory) -> dict:
    """A test CA, a server certificate for 127.0.0.1 and a client certificate, all signed by it."""
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=greenai-test-ca", cwd=directory)  # fmt: skip
    (directory / "server.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    (directory / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name in ("server", "client"):
        openssl("req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN=greenai-test-{name}", cwd=directory)  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
                "-extfile", f"{name}.ext", cwd=directory)  # fmt: skip
    return {name: str(directory / name) for name in (
        "ca.pem", "server.pem", "server.key", "client.pem", "client.key")}  # fmt: skip


def eight_gpus() -> DcgmExporterFixture:
    gpus = [ExportedGpu(f"GPU-{i}", i, 100.0 + 10 * i) for i in range(8)]
    return DcgmExporterFixture(gpus, hostname="gpu-node-08")


@pytest.fixture
def exporter():
    with eight_gpus() as exporter:
        yield exporter


@pytest.fixture(scope="module")
def secured_prometheus(tmp_path_factory):
    """Prometheus serving HTTPS only to clients with a certificate and the basic-auth password
    (one server for the module's tests: each only reads from it)."""
    if PROMETHEUS is None:
        pytest.skip(MISSING)
    tmp_path = tmp_path_factory.mktemp("secured")
    files = make_certificates(tmp_path)
    web_config = {
        "tls_server_config": {
            "cert_file": files["server.pem"],
            "key_file": files["server.key"],
            "client_auth_type": "RequireAndVerifyClientCert",
            "client_ca_file": files["ca.pem"],
        },
        "basic_auth_users": {"greenai": PASSWORD_HASH},
    }
    context = ssl.create_default_context(cafile=files["ca.pem"])
    context.load_cert_chain(files["client.pem"], files["client.key"])
    credentials = base64.b64encode(f"greenai:{PASSWORD}".encode()).decode()
    with (
        eight_gpus() as exporter,
        PrometheusServer(
            tmp_path,
            [f"127.0.0.1:{exporter.port}"],
            web_config=web_config,
            client_context=context,
            client_headers={"Authorization": f"Basic {credentials}"},
        ) as prometheus,
    ):
        prometheus.wait_for_points(ENERGY, series=8, points=2)
        yield prometheus, files


def secured_options(files, tmp_path, **changes) -> HttpOptions:
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")
    options = {
        "username": "greenai",
        "password_file": str(password_file),
        "ca_file": files["ca.pem"],
        "cert_file": files["client.pem"],
        "key_file": files["client.key"],
    }
    options.update(changes)
    return HttpOptions(**options)


@needs_prometheus
def test_prometheus_over_tls_with_client_certificate_and_basic_auth(tmp_path, secured_prometheus):
    prometheus, files = secured_prometheus
    source = PrometheusSource(
        prometheus.url,
        hostname="collector",
        poll_every_s=1.0,
        http=secured_options(files, tmp_path),
    )
    source.open()
    samples = source.read()
    assert {s.device.uuid for s in samples} == {f"GPU-{i}" for i in range(8)}
    assert {s.device.host for s in samples} == {"gpu-node-08"}


@needs_prometheus
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"password_file": "", "password": "wrong"}, "HTTP 401 .*check the bearer token"),
        ({"ca_file": ""}, "CERTIFICATE_VERIFY_FAILED"),
        ({"cert_file": "", "key_file": ""}, "cannot be queried"),
    ],
)
def test_prometheus_refusing_the_agent_stops_it_at_start_with_the_cause(
    tmp_path, secured_prometheus, changes, message
):
    prometheus, files = secured_prometheus
    source = PrometheusSource(
        prometheus.url,
        hostname="collector",
        poll_every_s=1.0,
        http=secured_options(files, tmp_path, **changes),
    )
    with pytest.raises(SourceError, match=message):
        source.open()


@needs_prometheus
def test_insecure_skip_verify_accepts_an_unknown_certificate(tmp_path, secured_prometheus):
    prometheus, files = secured_prometheus
    options = secured_options(files, tmp_path, ca_file="", insecure_skip_verify=True)
    source = PrometheusSource(prometheus.url, hostname="c", poll_every_s=1.0, http=options)
    source.open()
    assert len({s.device.uuid for s in source.read()}) == 8


class CountingSource(PrometheusSource):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.queries: list[str] = []
        get = self.getter.get

        def counting_get(url, params=None, accept="*/*"):
            self.queries.append(params["query"])
            return get(url, params, accept)

        self.getter.get = counting_get


@needs_prometheus
def test_one_poll_costs_five_queries_whatever_the_number_of_gpus(tmp_path, exporter):
    with PrometheusServer(tmp_path, [f"127.0.0.1:{exporter.port}"]) as prometheus:
        prometheus.wait_for_points(ENERGY, series=8, points=3)
        source = CountingSource(prometheus.url, hostname="c", poll_every_s=60.0)
        source.open()
        source.queries.clear()
        samples = source.read()
        assert len({s.device.uuid for s in samples}) == 8
        # Energy, power, utilisation, memory, and one for the serving engines' counters.
        assert len(source.queries) == 5
        assert source.read() == []  # the next poll waits for the push period
        assert len(source.queries) == 5


@needs_prometheus
def test_restart_after_a_long_stop_catches_up_in_windows_from_the_saved_position(
    tmp_path, exporter
):
    with PrometheusServer(tmp_path, [f"127.0.0.1:{exporter.port}"]) as prometheus:
        prometheus.wait_for_points(ENERGY, series=8, points=2)
        now = time.time()
        stopped_at = now - 2.5 * 3600
        # The agent stopped 2.5 hours ago; GPU-0's counter has since risen by 900 kJ.
        counter_now = exporter.gpus[0].counter_mj(now)
        state = {
            "cursor": stopped_at,
            "positions": {"GPU-0": [stopped_at, counter_now - 900_000_000, KIND_ENERGY]},
            "hosts": {"GPU-0": "gpu-node-08"},
        }
        source = CountingSource(prometheus.url, hostname="c", poll_every_s=60.0)
        source.open(state)
        source.queries.clear()
        samples = source.read()
    # Windows of 15 minutes, all in one read (Prometheus holds nothing of the first nine), five
    # queries each (docs/agent.md); on a busy machine the reads take over a second, and one
    # short window more covers those seconds.
    windows = int(2.5 * 3600 / MAX_WINDOW_S)
    assert len(source.queries) in (5 * windows, 5 * (windows + 1))
    full = f"[{int((MAX_WINDOW_S + 60) * 1000)}ms]"
    assert all(full in q for q in source.queries[: 5 * windows])
    gap = [s for s in samples if s.device.uuid == "GPU-0"]
    # The counter's rise since the saved position, over the whole stop, cut into hour pieces.
    assert sum(s.energy_j for s in gap) == pytest.approx(900_000.0, rel=1e-3)
    assert max(s.duration_s for s in gap) <= 3600.0
    assert gap[0].ts - gap[0].duration_s == pytest.approx(stopped_at)
    assert all(s.job is None for s in gap)


def test_exporter_behind_a_bearer_token_gets_the_rotated_token(tmp_path, exporter):
    token_file = tmp_path / "token"
    token_file.write_text("first-token\n")
    exporter.required_authorization = "Bearer first-token"
    source = DcgmSource(
        exporter.url, poll_every_s=0.0, http=HttpOptions(bearer_token_file=str(token_file))
    )
    source.open()
    token_file.write_text("second-token\n")  # Kubernetes rotated the projected token
    exporter.required_authorization = "Bearer second-token"
    assert len(source.read()) == 8


def test_exporter_refusing_the_token_is_a_read_error_naming_401(tmp_path, exporter):
    exporter.required_authorization = "Bearer right"
    source = DcgmSource(exporter.url, poll_every_s=0.0, http=HttpOptions(bearer_token="wrong"))
    with pytest.raises(SourceError, match="HTTP 401"):
        source.open()


def test_redirects_are_not_followed_so_credentials_stay_put(exporter):
    exporter.redirect_to = "http://elsewhere.example/metrics"
    source = DcgmSource(exporter.url, poll_every_s=0.0, http=HttpOptions(bearer_token="t"))
    with pytest.raises(SourceError, match="redirects are not followed.*elsewhere.example"):
        source.open()


@needs_prometheus
def test_pod_labels_renamed_by_a_scrape_without_honor_labels_still_name_the_workload(
    tmp_path,
):
    gpus = [
        ExportedGpu("GPU-held", 0, 300.0, pods=(("nlp", "train-0", "main"),)),
        ExportedGpu("GPU-free", 1, 60.0),
    ]
    # As Kubernetes service discovery labels a target: with the exporter's own pod.
    exporter_pod = {"namespace": "gpu-operator", "pod": "nvidia-dcgm-exporter-7xk2p"}
    with (
        DcgmExporterFixture(gpus, hostname="gpu-node-09") as exporter,
        PrometheusServer(
            tmp_path,
            [f"127.0.0.1:{exporter.port}"],
            honor_labels=False,
            target_labels=exporter_pod,
        ) as prometheus,
    ):
        prometheus.wait_for_points(ENERGY, series=2, points=3)
        source = PrometheusSource(prometheus.url, hostname="c", poll_every_s=60.0)
        source.open()
        samples = source.read()
    jobs = {s.device.uuid: s.job for s in samples}
    assert jobs["GPU-held"] == [
        {
            "id": "nlp/train-0",
            "namespace": "nlp",
            "pod": "train-0",
            "container": "main",
            "share": 1.0,
        }
    ]
    assert jobs["GPU-free"] is None
