"""`schoolpass serve`: how it runs uvicorn (Nagle off, long keep-alive, no access log) and the headers."""

from __future__ import annotations

import socket

import pytest
import uvicorn
from fastapi.testclient import TestClient

from schoolpass.settings import load_settings
from schoolpass.web.app import NoDelayHTTP, create_app
from schoolpass.web.cli import KEEP_ALIVE_SECONDS
from schoolpass.web.security import HEADERS
from tests.cli import run


class _Transport:
    def __init__(self, sock):
        self.sock = sock

    def get_extra_info(self, name, default=None):
        return self.sock if name == "socket" else default


def test_connections_get_tcp_nodelay(monkeypatch):
    """uvicorn's own socket for --workers N has proto 0, so asyncio leaves Nagle on: 40 ms per answer."""
    monkeypatch.setattr(NoDelayHTTP.__mro__[1], "connection_made", lambda self, transport: None)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # proto 0, as uvicorn binds it
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        protocol = NoDelayHTTP.__new__(NoDelayHTTP)
        protocol.loop = None  # set by uvicorn's __init__; unused here
        protocol.connection_made(_Transport(sock))
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_runs_uvicorn_with_nodelay_keep_alive_and_no_access_log(monkeypatch, capsys, tmp_path, workers):
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(app=app, **options))
    monkeypatch.setenv("SCHOOLPASS_DATABASE_URL", "unused")  # restored after the test (serve sets it for workers)
    monkeypatch.delenv("SCHOOLPASS_DATABASE_URL")
    assert run(capsys, "--db", f"sqlite:///{tmp_path / 'x.db'}", "init").code == 0  # serve needs the schema
    result = run(capsys, "--db", f"sqlite:///{tmp_path / 'x.db'}", "serve", "--workers", workers)
    assert result.code == 0, result.err
    assert seen["http"] is NoDelayHTTP and seen["timeout_keep_alive"] == KEEP_ALIVE_SECONDS >= 60
    assert seen["access_log"] is False and seen["server_header"] is False
    assert seen.get("workers", 1) == int(workers)
    run(capsys, "--db", f"sqlite:///{tmp_path / 'x.db'}", "serve", "--keep-alive", "9")
    assert seen["timeout_keep_alive"] == 9


def test_every_answer_carries_the_security_headers_once(tmp_path):
    client = TestClient(create_app(load_settings(database_url=f"sqlite:///{tmp_path / 'x.db'}")))
    for path in ("/family/", "/family/home", "/nowhere", "/staff/login"):
        answer = client.get(path, follow_redirects=False)
        for name, value in HEADERS.items():
            assert answer.headers.get_list(name) == [value], (path, name)
        assert "strict-transport-security" not in answer.headers
    https = TestClient(create_app(load_settings(database_url=f"sqlite:///{tmp_path / 'x.db'}",
                                                base_url="https://portal.example.org")))
    assert https.get("/family/").headers["strict-transport-security"] == "max-age=31536000"


def test_over_real_connections_every_answer_arrives_whole(tmp_path):
    """Through uvicorn with the serve protocol: keep-alive, a form post, a redirect, an error, a close."""
    import http.client
    import threading
    import time

    from schoolpass.storage.engine import make_engine
    from schoolpass.storage.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'x.db'}"
    upgrade(make_engine(url))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(load_settings(database_url=url)), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False, http=NoDelayHTTP))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(3):  # one connection, kept alive
            conn.request("GET", "/family/")
            page = conn.getresponse()
            body = page.read().decode()
            assert page.status == 200 and body.rstrip().endswith("</html>")
            assert page.getheader("Content-Security-Policy") == HEADERS["Content-Security-Policy"]
            assert int(page.getheader("Content-Length")) == len(body.encode())
        conn.request("GET", "/family/home", headers={"Cookie": "sp_family=nobody"})
        moved = conn.getresponse()
        assert moved.status == 303 and moved.getheader("Location") == "/family/" and moved.read() == b""
        conn.request("POST", "/family/", body="email=a%40b.example&csrf=x",
                     headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": "sp_csrf=y"})
        refused = conn.getresponse()
        assert refused.status == 403 and b"</html>" in refused.read()
        conn.request("GET", "/healthz", headers={"Connection": "close"})
        health = conn.getresponse()
        assert health.status == 200 and health.read() == b'{"status":"ok"}' and health.will_close
        conn.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_an_answer_goes_out_in_one_write_and_nothing_is_lost_on_close():
    from schoolpass.web.app import _OneWrite

    soon, writes = [], []

    class Loop:
        def call_soon(self, callback):
            soon.append(callback)

    class Transport:
        def write(self, data):
            writes.append(data)

        def is_closing(self):
            return False

        def close(self):
            writes.append("closed")

        def pause_reading(self):
            writes.append("paused")

    one = _OneWrite(Transport(), Loop())
    one.write(b"HTTP/1.1 200 OK\r\n\r\n")
    one.write(b"<html>")
    assert writes == [] and len(soon) == 1
    soon.pop()()
    assert writes == [b"HTTP/1.1 200 OK\r\n\r\n<html>"]
    one.write(b"last")
    one.close()  # before the loop comes round: flushed first
    one.pause_reading()
    assert writes[1:] == [b"last", "closed", "paused"]
    soon.pop()()  # the scheduled flush finds nothing left
    assert len(writes) == 4
