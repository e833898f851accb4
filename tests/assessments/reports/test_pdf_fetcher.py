"""The PDF report loads data: URIs and the app's static files, and nothing else: no local file
outside them, no URL on the network."""

import base64
import socket
import threading

import pytest
from django.conf import settings

from assessments.reports.render import pdf_from_html, static_only_fetcher

PIXEL = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
    )
).decode()


def _static_css_url() -> str:
    return (settings.BASE_DIR / "static" / "css" / "greenai.css").resolve().as_uri()


def test_data_uris_and_static_files_are_fetched():
    fetcher = static_only_fetcher()
    response = fetcher.fetch(f"data:image/png;base64,{PIXEL}")
    assert response.read().startswith(b"\x89PNG")
    response.close()
    response = fetcher.fetch(_static_css_url())
    assert b"{" in response.read()
    response.close()
    assert fetcher.refused == []


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        (settings.BASE_DIR / "greenai_site" / "settings.py").resolve().as_uri(),
        _static_css_url().replace("/static/css/greenai.css", "/static/../manage.py"),
        "http://169.254.169.254/latest/meta-data/",
        "https://example.com/x.css",
        "ftp://example.com/x",
    ],
)
def test_everything_else_is_refused(url):
    fetcher = static_only_fetcher()
    with pytest.raises(ValueError, match="only data: URIs and static files"):
        fetcher.fetch(url)
    assert fetcher.refused == [url]


def test_a_pdf_with_hostile_references_renders_without_fetching_them():
    # A listening socket stands for an internal service: the renderer must never connect.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.2)
        port = server.getsockname()[1]
        connections = []

        def accept():
            try:
                connections.append(server.accept())
            except OSError:
                pass

        watcher = threading.Thread(target=accept)
        watcher.start()
        fetcher = static_only_fetcher()
        pdf = pdf_from_html(
            f'<link rel="stylesheet" href="http://127.0.0.1:{port}/x.css">'
            '<img src="file:///etc/passwd">'
            f'<img src="data:image/png;base64,{PIXEL}">'
            "<p>Report</p>",
            url_fetcher=fetcher,
        )
        watcher.join()
    assert pdf.startswith(b"%PDF")
    assert connections == []
    assert f"http://127.0.0.1:{port}/x.css" in fetcher.refused
    assert "file:///etc/passwd" in fetcher.refused
