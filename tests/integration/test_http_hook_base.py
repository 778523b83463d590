"""Both hooks build on the http provider's ``HttpHook``: what reaches the wire, what never does, TLS, the Test button.

Real HTTP: a small recording proxy on 127.0.0.1 (:class:`RecordingProxy`, plain or TLS) sits in front of the Qualys
or ServiceNow simulator and keeps the method, path and headers of every request it forwards, so the tests see what
the hooks send: the base URL HttpHook makes of host/schema/port, the basic auth of its ``auth_type``, an extra
header from the connection's extra, and never one of our own settings (POD, OAuth client id and secret...).
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from airflow.providers.http.hooks.http import HttpHook
from qualys_cmdb.hooks.http_base import session_settings
from qualys_cmdb.hooks.qualys import QualysHook, RetryPolicy
from qualys_cmdb.hooks.servicenow import ServiceNowHook, SnRetryPolicy

QUALYS_FAST = RetryPolicy(max_attempts=2, backoff_s=0.01, backoff_max_s=0.01)
SN_FAST = SnRetryPolicy(max_attempts=2, backoff_s=0.01)
TEAM = {"X-Sync-Team": "cmdb-sync"}  # an extra header the connection asks for (HttpHook's behaviour)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "upgrade"}


# ---------------------------------------------------------------------------------------------- recording proxy
@dataclass
class Seen:
    """One request as the proxy received it (header names in lower case)."""

    method: str
    path: str
    headers: dict[str, str]


class RecordingProxy:
    """Forwards every request to ``upstream`` (a simulator) and records it; serves HTTPS with ``tls``."""

    def __init__(self, upstream: str, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Seen] = []
        target = urlsplit(upstream)
        seen = self.requests

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen.append(Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                upstream_conn = http.client.HTTPConnection(target.hostname or "", target.port, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                    upstream_conn.request(self.command, self.path, body=body, headers=headers)
                    response = upstream_conn.getresponse()
                    data = response.read()
                finally:
                    upstream_conn.close()
                self.send_response(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture
def servicenow() -> Iterator[str]:
    from simulators.servicenow.server import ServiceNowSimulator

    sim = ServiceNowSimulator(host="127.0.0.1", port=0).start()
    yield sim.url
    sim.stop()


@pytest.fixture
def qualys() -> Iterator[str]:
    from simulators.qualys.server import QualysSimulator

    sim = QualysSimulator(
        host="127.0.0.1", port=0, assets=20, seed=5, username="qualys_test", password="sim-Passw0rd"
    ).start()
    yield sim.url
    sim.stop()


def _connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: object) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _never_sent(requests: list[Seen], names: set[str], values: set[str]) -> None:
    """None of ``names`` is a header of any request, and none of ``values`` appears in any header."""
    assert requests
    for seen in requests:
        assert not names & set(seen.headers), (seen.path, sorted(seen.headers))
        assert not [v for v in values for header in seen.headers.values() if v in header], seen.path


# ---------------------------------------------------------------------------------------------- the hook classes
def test_both_hooks_are_http_hooks_with_their_own_connection_types() -> None:
    from importlib import import_module

    from qualys_cmdb.provider_info import get_provider_info

    expected = {
        "qualys": (QualysHook, "qualys_conn_id", "qualys_default", "Qualys"),
        "servicenow": (ServiceNowHook, "servicenow_conn_id", "servicenow_default", "ServiceNow"),
    }
    for conn_type, (cls, attr, default, name) in expected.items():
        assert issubclass(cls, HttpHook)
        assert (cls.conn_type, cls.conn_name_attr, cls.default_conn_name, cls.hook_name) == (
            conn_type,
            attr,
            default,
            name,
        )
        hook = cls(**{attr: "my_conn"})  # how Airflow makes the hook of a connection (Test button)
        assert getattr(hook, attr) == "my_conn" and hook.http_conn_id == "my_conn"
    for entry in get_provider_info()["connection-types"]:
        module, _, class_name = entry["hook-class-name"].rpartition(".")
        cls = getattr(import_module(module), class_name)
        assert issubclass(cls, HttpHook) and cls.conn_type == entry["connection-type"]
        assert cls.hook_name == entry["hook-name"]
        assert set(entry["conn-fields"]) <= cls.settings  # every form field is a setting, never a header


# ---------------------------------------------------------------------------------------------- on the wire
def test_servicenow_base_url_basic_auth_and_extra_header_reach_the_instance(
    servicenow: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with RecordingProxy(servicenow) as proxy:
        _connection(
            monkeypatch,
            "sn_wire",
            conn_type="servicenow",
            host="127.0.0.1",  # HttpHook: host + schema + port
            schema="http",
            port=proxy.port,
            login="sn_integration",
            password="sn-Passw0rd",
            extra={**TEAM, "auth": "basic", "client_id": "id-not-a-header", "client_secret": "s3cret-not-a-header"},
        )
        hook = ServiceNowHook("sn_wire", retry=SN_FAST)
        assert hook.test_connection() == (
            True,
            f"Connection OK: http://127.0.0.1:{proxy.port} answers, and 'Qualys' is a discovery source",
        )
        assert hook.base_url == proxy.url
    assert all(seen.path.startswith("/api/now/table/sys_choice?") for seen in proxy.requests)
    for seen in proxy.requests:
        assert seen.headers["authorization"] == _basic("sn_integration", "sn-Passw0rd")
        assert seen.headers["x-sync-team"] == "cmdb-sync"
        assert seen.headers["accept"] == "application/json"
    _never_sent(
        proxy.requests,
        {"auth", "client_id", "client_secret", "verify"},
        {"id-not-a-header", "s3cret-not-a-header"},
    )


@pytest.mark.parametrize("grant", ["oauth_client_credentials", "oauth_password"])
def test_servicenow_oauth_sends_the_token_and_never_the_secrets_as_headers(
    servicenow: str, monkeypatch: pytest.MonkeyPatch, grant: str
) -> None:
    login = {"login": "sn_integration", "password": "sn-Passw0rd"} if grant == "oauth_password" else {}
    with RecordingProxy(servicenow) as proxy:
        _connection(
            monkeypatch,
            "sn_oauth_wire",
            conn_type="servicenow",
            host=proxy.url,
            **login,
            extra={**TEAM, "auth": grant, "client_id": "qcmdb_client", "client_secret": "client-s3cret"},
        )
        ok, message = ServiceNowHook("sn_oauth_wire", retry=SN_FAST).test_connection()
    assert ok, message
    token_call, *api_calls = proxy.requests
    assert (token_call.method, token_call.path) == ("POST", "/oauth_token.do")
    assert "authorization" not in token_call.headers  # the client secret goes in the form only
    assert api_calls and all(seen.headers["authorization"].startswith("Bearer ") for seen in api_calls)
    assert all(seen.headers["x-sync-team"] == "cmdb-sync" for seen in proxy.requests)
    _never_sent(proxy.requests, {"auth", "client_id", "client_secret"}, {"client-s3cret", "sn-Passw0rd"})


def test_qualys_base_url_basic_auth_jwt_and_extra_header_reach_the_subscription(
    qualys: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with RecordingProxy(qualys) as proxy:
        _connection(
            monkeypatch,
            "qualys_wire",
            conn_type="qualys",
            host="127.0.0.1",
            schema="http",
            port=proxy.port,
            login="qualys_test",
            password="sim-Passw0rd",
            extra={**TEAM, "gateway_url": proxy.url, "pod": "US1", "api": "csam", "verify": True},
        )
        hook = QualysHook("qualys_wire", retry=QUALYS_FAST)
        ok, message = hook.test_connection()
        assert ok and message.startswith("Connection OK"), message
        assert hook.endpoints.api_url == proxy.url  # the connection's host wins over the POD's URL
    by_path = {seen.path.split("?")[0]: seen for seen in proxy.requests}
    assert set(by_path) == {"/api/2.0/fo/asset/ip/", "/auth", "/rest/2.0/count/am/asset"}
    fo = by_path["/api/2.0/fo/asset/ip/"]
    assert fo.headers["authorization"] == _basic("qualys_test", "sim-Passw0rd")
    assert fo.headers["x-requested-with"] == "qualys-cmdb-sync"
    assert "authorization" not in by_path["/auth"].headers  # the login form carries the credentials, once
    assert by_path["/rest/2.0/count/am/asset"].headers["authorization"].startswith("Bearer ")  # never basic
    assert all(seen.headers["x-sync-team"] == "cmdb-sync" for seen in proxy.requests)
    _never_sent(proxy.requests, {"gateway_url", "pod", "api", "api_url", "verify"}, {"US1"})


# ---------------------------------------------------------------------------------------------- the session
@pytest.mark.parametrize("hook_class", [QualysHook, ServiceNowHook])
def test_our_settings_never_become_headers(hook_class: type[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    settings = {key: f"value-of-{key}" for key in hook_class.settings if key not in ("verify", "verify_ssl")}
    prefixed = {f"extra__{hook_class.conn_type}__client_secret": "old-style-secret"}
    invalid = {"X-Retries": 3, "X-Flag": True, "bad header": "x", "X-Split": "a\r\nInjected: 1", "X-Empty": None}
    _connection(
        monkeypatch,
        "settings_conn",
        conn_type=hook_class.conn_type,
        host="https://example.invalid",
        login="user",
        password="pw",
        extra={**TEAM, **settings, **prefixed, **invalid, "timeout": 5, "proxies": {"https": "http://proxy:3128"}},
    )
    session = hook_class("settings_conn").get_conn()
    headers = {k.lower() for k in session.headers}
    assert "x-sync-team" in headers and session.headers["X-Sync-Team"] == "cmdb-sync"
    leaked = headers & {k.lower() for k in [*settings, *prefixed, *invalid, "timeout", "proxies"]}
    assert not leaked
    assert not [v for v in session.headers.values() if "value-of-" in str(v) or "secret" in str(v)]
    assert session.proxies == {"https": "http://proxy:3128"}  # an HttpHook option still applies
    assert session_settings(session) == {"verify": True, "proxies": {"https": "http://proxy:3128"}}
    assert {k.lower(): v for k, v in hook_class.default_headers.items()}.items() <= {
        k.lower(): v for k, v in session.headers.items()
    }.items()


@pytest.mark.parametrize("hook_class", [QualysHook, ServiceNowHook])
def test_tls_verification_is_on_unless_the_connection_turns_it_off(
    hook_class: type[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    cases: list[tuple[dict[str, object], bool]] = [
        ({}, True),
        ({"verify": None}, True),  # a form field left empty
        ({"verify": ""}, True),
        ({"verify": True}, True),
        ({"verify_ssl": "true"}, True),
        ({"verify": False}, False),
        ({"verify": "false"}, False),  # HttpHook alone would take this for a CA bundle path
        ({"verify_ssl": False}, False),
    ]
    for extra, expected in cases:
        _connection(
            monkeypatch,
            "tls_conn",
            conn_type=hook_class.conn_type,
            host="example.invalid",
            login="u",
            password="p",
            extra=extra,
        )
        hook = hook_class("tls_conn")
        assert hook.get_conn().verify is expected, extra
        # a host without scheme or schema is https (HttpHook alone: http), so no password goes out in clear
        assert hook.base_url == "https://example.invalid"


def _self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context for 127.0.0.1 with a self-signed certificate, and that certificate's file (a CA bundle)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qcmdb test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, False, False, False), True
        )  # digitalSignature, keyCertSign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file


def test_an_untrusted_certificate_is_refused_unless_the_connection_trusts_it(
    servicenow: str, qualys: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """TLS verification is on by default: a self-signed server is refused. Its CA bundle in ``verify`` is trusted,
    and ``verify: false`` turns verification off, even with a ``REQUESTS_CA_BUNDLE`` in the environment (which
    ``requests`` alone would let override the connection's setting)."""
    import certifi

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    context, ca_bundle = _self_signed(tmp_path)
    with RecordingProxy(servicenow, tls=context) as sn, RecordingProxy(qualys, tls=context) as q:
        for verify in (None, str(ca_bundle), False):
            extra = {} if verify is None else {"verify": verify}
            _connection(
                monkeypatch,
                "sn_tls",
                conn_type="servicenow",
                host=sn.url,
                login="sn_integration",
                password="sn-Passw0rd",
                extra=extra,
            )
            _connection(
                monkeypatch,
                "qualys_tls",
                conn_type="qualys",
                host=q.url,
                login="qualys_test",
                password="sim-Passw0rd",
                extra={**extra, "gateway_url": q.url},
            )
            sn_ok, sn_message = ServiceNowHook("sn_tls", retry=SN_FAST).test_connection()
            q_ok, q_message = QualysHook("qualys_tls", retry=QUALYS_FAST).test_connection()
            if verify is None:
                assert not sn_ok and sn_message.startswith("Instance unreachable") and "SSLError" in sn_message
                assert not q_ok and q_message.startswith("Server unreachable"), q_message
                assert "certificate verify failed" in q_message
            else:
                assert sn_ok and sn_message.startswith("Connection OK"), sn_message
                assert q_ok and q_message.startswith("Connection OK"), q_message
        assert sn.requests and q.requests  # only once the certificate was trusted


# ---------------------------------------------------------------------------------------------- Test button
def test_the_connection_test_says_clearly_what_is_wrong(
    servicenow: str, qualys: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    sn = {"conn_type": "servicenow", "login": "sn_integration"}
    q = {"conn_type": "qualys", "login": "qualys_test"}
    srv = {"srv_lookup": True}
    checks: list[tuple[type[Any], dict[str, Any], str]] = [
        (ServiceNowHook, {**sn, "host": servicenow, "password": "sn-Passw0rd"}, "Connection OK: "),
        (ServiceNowHook, {**sn, "host": servicenow, "password": "Wr0ng-pw"}, "Wrong credentials: "),
        (ServiceNowHook, {**sn, "host": closed, "password": "Wr0ng-pw"}, "Instance unreachable: "),
        (
            ServiceNowHook,
            {**sn, "host": servicenow, "password": "Wr0ng-pw", "extra": srv},
            "ServiceNow error: connection 'check': srv_lookup (DNS SRV failover) is not supported",
        ),
        (
            QualysHook,
            {**q, "host": qualys, "password": "sim-Passw0rd", "extra": {"gateway_url": qualys}},
            "Connection OK: API access and asset inventory (CSAM/GAV) available",
        ),
        (
            QualysHook,
            {**q, "host": qualys, "password": "Wr0ng-pw", "extra": {"gateway_url": qualys}},
            "Wrong credentials: ",
        ),
        (
            QualysHook,
            {**q, "host": closed, "password": "Wr0ng-pw", "extra": {"gateway_url": closed}},
            "Server unreachable: ",
        ),
        (
            QualysHook,
            {**q, "host": qualys, "password": "Wr0ng-pw", "extra": srv},
            "Qualys error: connection 'check': srv_lookup (DNS SRV failover) is not supported",
        ),
    ]
    for hook_class, fields, expected in checks:
        _connection(monkeypatch, "check", **fields)
        retry = SN_FAST if hook_class is ServiceNowHook else QUALYS_FAST
        ok, message = hook_class("check", retry=retry).test_connection()
        assert ok is expected.startswith("Connection OK") and message.startswith(expected), message
        assert not [pw for pw in ("Wr0ng-pw", "sim-Passw0rd", "sn-Passw0rd") if pw in message], message


@pytest.mark.parametrize(
    ("hook_class", "conn_type"), [(QualysHook, "qualys"), (ServiceNowHook, "servicenow")], ids=["qualys", "sn"]
)
def test_a_missing_connection_says_which_to_create_and_of_which_type(hook_class: type[Any], conn_type: str) -> None:
    """Issue 18.4: not "Unexpected error: AirflowNotFoundException", but what to create, of which type, where."""
    ok, message = hook_class("nowhere_prod").test_connection()
    assert not ok
    assert message.startswith(
        f"Connection missing: the Airflow connection 'nowhere_prod' does not exist: create it with connection type "
        f"'{conn_type}' ("
    ), message
    assert "AIRFLOW_CONN_NOWHERE_PROD" in message
