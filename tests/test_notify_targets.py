"""The message targets (notifiers/email.py, chat.py, webhook.py) against real local servers:
an aiosmtpd SMTP server (plain, STARTTLS with AUTH, implicit TLS) and loopback HTTP servers
(pytest-httpserver), with certificates made here by a private CA."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import email.utils
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import socket
import ssl
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from jsonschema import Draft202012Validator
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dialtone.engine.errors import ConfigError
from dialtone.engine.notifier_api import (
    DeliveryError,
    FindingRef,
    Message,
    check_target_settings,
    notifiers,
)
from dialtone.engine.yamlio import safe_load
from dialtone.notifiers.chat import AppriseTarget, markdown_body
from dialtone.notifiers.email import EmailTarget
from dialtone.notifiers.webhook import WebhookTarget, canonical_json

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "notifications.md"
PAYLOAD_SCHEMA = ROOT / "notifiers" / "schemas" / "webhook-payload.json"
PASSWORD = "pw-Sup3rSecret-0000"
HOOK_KEY = "hook-key-0123456789abcdef"


# -- messages --------------------------------------------------------------------------------
def finding(i: int = 7, **changes) -> FindingRef:
    base = dict(id=i, policy_id="cost.unused-line", policy_title="Unused *line*", severity="critical",
                category="cost", resource_type="lines", resource_id=f"+44163296{i:04d}", status="open",
                reason=None, due_on="2026-07-31", savings=24.5, currency="GBP",
                evidence={"calls_90d": 0}, url=f"https://dialtone.example.com/findings/{i}",
                event="new", history=({"at": "2026-07-01T02:00:04Z", "actor": "system", "kind": "opened"},))
    return FindingRef(**{**base, **changes})


def payload_finding(f: FindingRef) -> dict:
    return {"id": f.id, "url": f.url, "event": f.event, "status": f.status, "reason": f.reason,
            "policy": {"id": f.policy_id, "title": f.policy_title, "severity": f.severity,
                       "category": f.category},
            "resource": {"type": f.resource_type, "id": f.resource_id}, "due_on": f.due_on,
            "savings": None if f.savings is None else {"amount": f.savings, "currency": f.currency},
            "evidence": f.evidence, "history": list(f.history)}


def message(id: int = 42, recipient: str | None = "owner@example.com", findings=None, **changes) -> Message:
    findings = (finding(),) if findings is None else tuple(findings)
    payload = {"schema": "dialtone.notification/1", "id": id, "kind": "new", "rule": "critical-to-desk",
               "created_at": "2026-07-01T02:00:05Z", "subject": "New critical finding: Unused line",
               "dialtone_url": "https://dialtone.example.com/findings/7",
               "findings": [payload_finding(f) for f in findings]}
    base = dict(id=id, kind="new", rule="critical-to-desk", recipient=recipient,
                subject="New critical finding: Unused line",
                text="A new critical finding: Unused line on +441632960007.\n",
                html="<p>A new <b>critical</b> finding: Unused line on +441632960007.</p>",
                payload=payload, findings=findings)
    return Message(**{**base, **changes})


#: Targets made by a test, closed after it (a connection left open is a ResourceWarning).
OPEN: list = []


@pytest.fixture(autouse=True)
def _close_targets():
    yield
    while OPEN:
        OPEN.pop().close()


def opened(target):
    OPEN.append(target)
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_port():
    """A port that accepts connections (the kernel's backlog) and never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


# -- a private CA and a server certificate for localhost / 127.0.0.1 --------------------------
@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pki")
    now = dt.datetime.now(dt.UTC)

    def make(subject: str, issuer_key, issuer_name, *, ca: bool, key=None):
        key = key or ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name or name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False), critical=True)
        else:
            builder = builder.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
        cert = builder.sign(issuer_key or key, hashes.SHA256())
        return key, cert

    ca_key, ca_cert = make("Dialtone test CA", None, None, ca=True)
    key, cert = make("localhost", ca_key, ca_cert.subject, ca=False)
    (folder / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "server.key"}


def server_context(pki) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki["cert"], pki["key"])
    return ctx


# -- an SMTP server -------------------------------------------------------------------------
class Mailbox:
    """An aiosmtpd handler keeping what it receives; ``rcpt_reply`` / ``data_reply`` make it
    refuse recipients or the message the way a real server does."""

    def __init__(self, rcpt_reply: str | None = None, data_reply: str | None = None) -> None:
        self.envelopes: list = []
        self.peers: list = []           # the client's (address, port): one per connection
        self.rcpt_reply = rcpt_reply
        self.data_reply = data_reply

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply and address.startswith("nobody@"):
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply:
            return self.data_reply
        self.envelopes.append(envelope)
        self.peers.append(session.peer)
        return "250 Message accepted for delivery"

    def mail(self, i: int = 0) -> email.message.EmailMessage:
        # As a mail client reads it: SMTP's CRLF line ends become the local ones.
        raw = self.envelopes[i].content.replace(b"\r\n", b"\n")
        return email.message_from_bytes(raw, policy=email.policy.default)


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"dialtone", PASSWORD.encode())
    # handled=False: aiosmtpd answers the refusal itself (535).
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server():
    """Starts aiosmtpd on loopback with the given handler and options; stops them all after."""
    started: list[Controller] = []

    def start(handler: Mailbox, **kwargs) -> Controller:
        controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
        controller.start()
        started.append(controller)
        return controller

    yield start
    for controller in started:
        controller.stop()


def email_target(tmp_path: Path, port: int, name: str = "mail", **settings) -> EmailTarget:
    spec = {"host": "127.0.0.1", "port": port, "security": "none", "from": "Dialtone <dialtone@example.com>",
            **settings}
    check_target_settings(name, {"type": "email", **spec}, lambda at: 1, "dialtone.yaml")
    return opened(EmailTarget(name, spec, tmp_path))


# -- e-mail ----------------------------------------------------------------------------------
def test_a_mail_has_both_bodies_and_the_headers(tmp_path, smtp_server):
    box = Mailbox()
    server = smtp_server(box)
    target = email_target(tmp_path, server.port, reply_to="desk@example.com")
    ref = target.send(message())
    target.close()

    assert len(box.envelopes) == 1
    env = box.envelopes[0]
    assert env.mail_from == "dialtone@example.com" and env.rcpt_tos == ["owner@example.com"]
    mail = box.mail()
    assert mail.get_content_type() == "multipart/alternative"
    assert mail.get_body(("plain",)).get_content() == message().text
    assert "<b>critical</b>" in mail.get_body(("html",)).get_content()
    assert mail["Subject"] == "New critical finding: Unused line"
    assert mail["From"] == "Dialtone <dialtone@example.com>"
    assert mail["To"] == "owner@example.com"
    assert mail["Reply-To"] == "desk@example.com"
    assert mail["Auto-Submitted"] == "auto-generated"
    sent = email.utils.parsedate_to_datetime(mail["Date"])
    assert abs(sent - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    salt = hashlib.sha256(b"127.0.0.1dialtone@example.com").hexdigest()[:12]
    assert mail["Message-ID"] == ref == f"<dialtone.42.{salt}@example.com>"


def test_the_message_id_is_stable_for_a_redelivery_and_differs_per_server(tmp_path, smtp_server):
    box = Mailbox()
    server = smtp_server(box)
    target = email_target(tmp_path, server.port)
    first, again = target.send(message()), target.send(message())
    other = target.send(message(id=43))
    target.close()
    assert first == again != other
    assert len(set(box.peers)) == 1         # one connection kept for the round
    assert box.mail(0)["Message-ID"] == box.mail(1)["Message-ID"]
    elsewhere = email_target(tmp_path, server.port, host="localhost")
    assert elsewhere.message_id(message()) != first


def test_a_message_without_recipient_goes_to_the_targets_to_list(tmp_path, smtp_server):
    box = Mailbox()
    server = smtp_server(box)
    target = email_target(tmp_path, server.port, to=["desk@example.com", "lead@example.com"])
    target.send(message(recipient=None))
    assert box.envelopes[0].rcpt_tos == ["desk@example.com", "lead@example.com"]
    assert box.mail()["To"] == "desk@example.com, lead@example.com"
    with pytest.raises(DeliveryError, match="has no recipient and the target has no 'to'") as err:
        email_target(tmp_path, server.port).send(message(recipient=None))
    assert not err.value.retryable


def test_display_names_stay_in_the_header_and_line_breaks_are_refused(tmp_path, smtp_server):
    box = Mailbox()
    server = smtp_server(box)
    target = email_target(tmp_path, server.port)
    target.send(message(recipient="Jane Owner <jane@example.com>"))
    assert box.envelopes[0].rcpt_tos == ["jane@example.com"]
    assert box.mail()["To"] == "Jane Owner <jane@example.com>"
    with pytest.raises(DeliveryError, match="message 42 cannot be written as an e-mail") as err:
        target.send(message(recipient="jane@example.com\nBcc: all@example.com"))
    assert not err.value.retryable and len(box.envelopes) == 1


def test_a_missing_ca_file_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigError, match=r"notifications.targets.mail.ca_file: cannot read a CA bundle from "
                                          r".*missing.pem"):
        EmailTarget("mail", {"host": "h", "from": "a@b.c", "ca_file": "missing.pem"}, tmp_path)


def test_starttls_then_login_with_a_private_ca(tmp_path, smtp_server, pki, monkeypatch):
    box = Mailbox()
    server = smtp_server(box, tls_context=server_context(pki), require_starttls=True,
                         authenticator=authenticator, auth_required=True)
    monkeypatch.setenv("SMTP_PW", PASSWORD)
    target = email_target(tmp_path, server.port, security="starttls", username="dialtone",
                          password_env="SMTP_PW", ca_file=str(pki["ca"]))
    target.send(message())
    target.send(message(id=43))     # the second goes over the same connection
    target.close()
    assert [m["Message-ID"].split(".")[1] for m in (box.mail(0), box.mail(1))] == ["42", "43"]


def test_a_refused_login_is_not_retryable_and_never_shows_the_password(tmp_path, smtp_server, pki,
                                                                        monkeypatch):
    server = smtp_server(Mailbox(), tls_context=server_context(pki), require_starttls=True,
                         authenticator=authenticator, auth_required=True)
    monkeypatch.setenv("SMTP_PW", "wrong-" + PASSWORD)
    target = email_target(tmp_path, server.port, security="starttls", username="dialtone",
                          password_env="SMTP_PW", ca_file=str(pki["ca"]))
    with pytest.raises(DeliveryError) as err:
        target.send(message())
    text = str(err.value)
    assert text.startswith(f"notifications.targets.mail: SMTP 127.0.0.1:{server.port} refused the login "
                           "as 'dialtone': 535")
    assert not err.value.retryable and PASSWORD not in text


def test_implicit_tls(tmp_path, smtp_server, pki):
    box = Mailbox()
    server = smtp_server(box, ssl_context=server_context(pki))
    target = email_target(tmp_path, server.port, security="tls", ca_file=str(pki["ca"]))
    target.send(message())
    target.close()
    assert box.mail()["Subject"] == "New critical finding: Unused line"


def test_an_untrusted_certificate_is_a_clear_error_not_retried(tmp_path, smtp_server, pki):
    server = smtp_server(Mailbox(), ssl_context=server_context(pki))
    target = email_target(tmp_path, server.port, security="tls")    # the system's trust: not our CA
    with pytest.raises(DeliveryError, match=r"SMTP 127.0.0.1:\d+ presented a certificate that is not "
                                            r"trusted \(.*\); for a private CA set ca_file") as err:
        target.send(message())
    assert not err.value.retryable


def test_starttls_required_but_not_offered_is_refused_not_sent_in_plaintext(tmp_path, smtp_server):
    box = Mailbox()
    server = smtp_server(box)
    target = email_target(tmp_path, server.port, security="starttls")
    with pytest.raises(DeliveryError, match="does not offer STARTTLS; refusing to send in plaintext") as err:
        target.send(message())
    assert not err.value.retryable and not box.envelopes


def test_an_unknown_recipient_550_is_not_retryable(tmp_path, smtp_server):
    server = smtp_server(Mailbox(rcpt_reply="550 5.1.1 <nobody@example.com>: no such user"))
    target = email_target(tmp_path, server.port)
    with pytest.raises(DeliveryError) as err:
        target.send(message(recipient="nobody@example.com"))
    assert str(err.value) == (f"notifications.targets.mail: SMTP 127.0.0.1:{server.port} refused the "
                              "recipients: nobody@example.com: 550 5.1.1 <nobody@example.com>: no such user")
    assert not err.value.retryable


def test_a_temporary_451_is_retryable_and_the_next_message_goes_through(tmp_path, smtp_server):
    box = Mailbox(data_reply="451 4.3.0 Try again later")
    server = smtp_server(box)
    target = email_target(tmp_path, server.port)
    with pytest.raises(DeliveryError, match=r"refused the message: 451 4\.3\.0 Try again later") as err:
        target.send(message())
    assert err.value.retryable
    box.data_reply = None
    target.send(message())
    assert len(box.envelopes) == 1


def test_nothing_listening_is_retryable(tmp_path):
    port = free_port()
    with pytest.raises(DeliveryError, match=f"SMTP 127.0.0.1:{port} cannot be reached: connection "
                                            "refused") as err:
        email_target(tmp_path, port).send(message())
    assert err.value.retryable


def test_a_server_that_never_answers_times_out_retryable(tmp_path, silent_port):
    with pytest.raises(DeliveryError, match=r"did not answer within 0.2 s") as err:
        email_target(tmp_path, silent_port, timeout=0.2).send(message())
    assert err.value.retryable


def test_plaintext_smtp_is_only_for_this_machine_unless_allowed(tmp_path):
    spec = {"host": "smtp.example.com", "security": "none", "from": "dialtone@example.com"}
    with pytest.raises(ConfigError, match=r"notifications.targets.mail.security: 'none' sends mail "
                                          r"\(and any password\) unencrypted to smtp.example.com.*"
                                          r"allow_plaintext: true"):
        EmailTarget("mail", spec, tmp_path)
    target = EmailTarget("mail", {**spec, "allow_plaintext": True}, tmp_path)
    assert target.port == 25
    assert EmailTarget("mail", {**spec, "host": "::1"}, tmp_path).port == 25
    assert EmailTarget("mail", {**spec, "security": "tls"}, tmp_path).port == 465
    assert EmailTarget("mail", {**spec, "security": "starttls"}, tmp_path).port == 587


def test_email_settings_are_checked_against_the_schema(tmp_path):
    def check(**spec):
        return check_target_settings("mail", {"type": "email", **spec}, lambda at: 3, "dialtone.yaml")

    assert check(host="h", **{"from": "a@b.c"}) is EmailTarget
    with pytest.raises(ConfigError, match="dialtone.yaml:3: notifications.targets.mail: 'from' is a "
                                          "required"):
        check(host="h")
    with pytest.raises(ConfigError, match=r"notifications.targets.mail.security: 'ssl' is not one of"):
        check(host="h", security="ssl", **{"from": "a@b.c"})
    with pytest.raises(ConfigError, match="'username' is a dependency of 'password_env'"):
        check(host="h", password_env="PW", **{"from": "a@b.c"})
    with pytest.raises(ConfigError, match=r"Additional properties are not allowed \('password' was"):
        check(host="h", password="hunter2", **{"from": "a@b.c"})


# -- Apprise ---------------------------------------------------------------------------------
def apprise_target(tmp_path: Path, urls: str, **settings) -> AppriseTarget:
    (tmp_path / "apprise-urls").write_text(urls)
    spec = {"url_file": "apprise-urls", **settings}
    check_target_settings("desk", {"type": "apprise", **spec}, lambda at: 1, "dialtone.yaml")
    return opened(AppriseTarget("desk", spec, tmp_path))


def test_apprise_json_posts_the_markdown_list_of_findings(tmp_path, httpserver):
    httpserver.expect_request("/hooks/desk", method="POST").respond_with_data("ok")
    target = apprise_target(tmp_path, f"json://127.0.0.1:{httpserver.port}/hooks/desk\n",
                            title_prefix="[Dialtone] ")
    findings = [finding(i) for i in range(1, 24)]
    assert target.send(message(findings=findings)) == "Apprise: 1 service(s)"
    (request, _), = httpserver.log
    body = request.get_json()
    assert body["title"] == "[Dialtone] New critical finding: Unused line"
    lines = body["message"].splitlines()
    assert lines[0] == "**New critical finding: Unused line**"
    assert lines[2] == ("- **critical** · Unused \\*line\\* · `+441632960001` · "
                        "[open](https://dialtone.example.com/findings/1)")
    assert len([x for x in lines if x.startswith("- **critical**")]) == 20
    assert lines[-1] == "- and 3 more"


def test_apprise_form_sends_the_text_body_to_every_url_of_the_file(tmp_path, httpserver):
    httpserver.expect_request("/a", method="POST").respond_with_data("ok")
    httpserver.expect_request("/b", method="POST").respond_with_data("ok")
    urls = (f"# the desk\nform://127.0.0.1:{httpserver.port}/a\n\n"
            f"json://127.0.0.1:{httpserver.port}/b\n")
    target = apprise_target(tmp_path, urls, body_format="text")
    assert target.send(message()) == "Apprise: 2 service(s)"
    by_path = {r.path: r for r, _ in httpserver.log}
    assert by_path["/a"].form["message"] == "A new critical finding: Unused line on +441632960007."
    assert by_path["/b"].get_json()["message"].startswith("A new critical finding")


def test_markdown_without_findings_sends_the_text():
    assert markdown_body(message(findings=[finding()])).startswith("**New critical finding")
    target = AppriseTarget.__new__(AppriseTarget)
    target.body_format = "markdown"
    assert target.body(message(findings=[])) == "A new critical finding: Unused line on +441632960007.\n"


def test_apprise_failure_is_retryable_and_hides_the_url_and_its_tokens(tmp_path, httpserver):
    httpserver.expect_request("/hooks/T0KEN-abcdef123456").respond_with_data("boom", status=500)
    url = f"json://bob:pa55w0rd-zzz@127.0.0.1:{httpserver.port}/hooks/T0KEN-abcdef123456"
    target = apprise_target(tmp_path, url)
    with pytest.raises(DeliveryError) as err:
        target.send(message())
    text = str(err.value)
    assert err.value.retryable
    assert text.startswith("notifications.targets.desk: Apprise could not deliver message 42")
    assert "500" in text
    for piece in ("pa55w0rd", "T0KEN-abcdef123456", "abcdef123456", str(httpserver.port), "json://"):
        assert piece not in text


def test_apprise_never_logs_the_url_even_at_debug_level(tmp_path, httpserver, caplog):
    httpserver.expect_request("/hooks/T0KEN-abcdef123456").respond_with_data("boom", status=500)
    caplog.set_level(logging.DEBUG)
    target = apprise_target(tmp_path, f"json://127.0.0.1:{httpserver.port}/hooks/T0KEN-abcdef123456")
    with pytest.raises(DeliveryError):
        target.send(message())
    ours = [r.getMessage() for r in caplog.records if r.name != "werkzeug"]   # not the test server's
    assert any("message 42 not delivered" in line for line in ours)
    assert not [line for line in ours if "T0KEN" in line or "abcdef123456" in line]
    assert logging.getLogger("apprise").propagate and logging.getLogger("urllib3").propagate


def test_apprise_with_the_service_down_is_retryable(tmp_path):
    target = apprise_target(tmp_path, f"json://127.0.0.1:{free_port()}/hook")
    with pytest.raises(DeliveryError, match="Apprise could not deliver message 42") as err:
        target.send(message())
    assert err.value.retryable


@pytest.mark.parametrize("url", [
    "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general",
    "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
    "workflows://prod-01.westus.logic.azure.com:443/a1b2c3d4e5/SiGnAtUrE123",
])
def test_slack_and_teams_url_forms_are_understood(tmp_path, url):
    assert len(apprise_target(tmp_path, url).services()) == 1      # parsed only: nothing is sent


def test_a_url_apprise_cannot_read_names_the_setting_never_the_url(tmp_path):
    target = apprise_target(tmp_path, "json://127.0.0.1/ok\nnotaservice://s3cr3t-t0ken/x\n")
    with pytest.raises(DeliveryError) as err:
        target.services()
    assert str(err.value).startswith("notifications.targets.desk.url_file: URL 2 of 2 is not one Apprise")
    assert "s3cr3t" not in str(err.value) and not err.value.retryable


def test_the_url_is_a_secret_setting(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"Additional properties are not allowed \('url' was"):
        check_target_settings("desk", {"type": "apprise", "url": "json://x"}, lambda at: 1, "d.yaml")
    with pytest.raises(ConfigError, match="notifications.targets.desk.url_env: the environment variable "
                                          "APPRISE_URL is not set"):
        AppriseTarget("desk", {"url_env": "APPRISE_URL"}, tmp_path)
    monkeypatch.setenv("APPRISE_URL", "json://127.0.0.1/x")
    assert len(AppriseTarget("desk", {"url_env": "APPRISE_URL"}, tmp_path).services()) == 1


# -- the webhook -----------------------------------------------------------------------------
def docs_receiver():
    """The receiver example of the docs, run as written."""
    block, = [b for b in re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
              if "def verify(" in b]
    scope: dict = {}
    exec(compile(block, str(DOCS), "exec"), scope)
    return scope["verify"]


def webhook_target(tmp_path: Path, url: str, key: str = HOOK_KEY, clock=None, **settings) -> WebhookTarget:
    (tmp_path / "hook-key").write_text(key + "\n")
    spec = {"url": url, "secret_file": "hook-key", **settings}
    check_target_settings("hook", {"type": "webhook", **spec}, lambda at: 1, "dialtone.yaml")
    return opened(WebhookTarget("hook", spec, tmp_path, **({"clock": clock} if clock else {})))


@pytest.fixture
def receiver(httpserver):
    """A webhook receiver that checks the signature with the docs' code and answers 204, or
    401 when it does not verify; it keeps what it received."""
    verify = docs_receiver()
    got: list[Request] = []

    def handle(request: Request) -> Response:
        got.append(request)
        if not verify(HOOK_KEY.encode(), request.headers, request.get_data()):
            return Response(json.dumps({"error": "bad signature"}), status=401,
                            content_type="application/json")
        return Response(status=204)

    httpserver.expect_request("/hook", method="POST").respond_with_handler(handle)
    return got


def test_the_webhook_posts_the_canonical_payload_signed(tmp_path, httpserver, receiver):
    target = webhook_target(tmp_path, httpserver.url_for("/hook"), headers={"X-Team": "telecom"})
    msg = message(subject="Zürich: new finding")
    assert target.send(msg) == "HTTP 204"
    target.close()
    request, = receiver
    body = request.get_data()
    assert body == canonical_json(msg.payload)
    assert body.startswith(b'{"created_at":"2026-07-01T02:00:05Z","dialtone_url":')
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "dialtone-notifier"
    assert request.headers["X-Dialtone-Delivery"] == "42"
    assert request.headers["X-Team"] == "telecom"
    timestamp = request.headers["X-Dialtone-Timestamp"]
    expected = hmac.new(HOOK_KEY.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert request.headers["X-Dialtone-Signature"] == f"sha256={expected}"


def test_a_wrong_secret_is_refused_by_the_receiver_and_not_retried(tmp_path, httpserver, receiver):
    target = webhook_target(tmp_path, httpserver.url_for("/hook") + "?token=qs-secret", key="not-the-key")
    with pytest.raises(DeliveryError) as err:
        target.send(message())
    assert str(err.value) == (f"notifications.targets.hook: POST http://localhost:{httpserver.port}/hook: "
                              "HTTP 401 UNAUTHORIZED: bad signature")
    assert not err.value.retryable and "qs-secret" not in str(err.value)


def test_the_docs_receiver_refuses_replays_and_tampering(tmp_path, httpserver, receiver):
    verify = docs_receiver()
    webhook_target(tmp_path, httpserver.url_for("/hook")).send(message())
    request, = receiver
    headers, body = dict(request.headers), request.get_data()
    sent = int(headers["X-Dialtone-Timestamp"])
    assert verify(HOOK_KEY.encode(), headers, body, now=sent + 299)
    assert not verify(HOOK_KEY.encode(), headers, body, now=sent + 301)           # replayed later
    assert not verify(HOOK_KEY.encode(), headers, body.replace(b'"new"', b'"old"'), now=sent)
    assert not verify(HOOK_KEY.encode(), {**headers, "X-Dialtone-Timestamp": str(sent + 60)}, body,
                      now=sent + 60)                                                # re-stamped
    assert not verify(HOOK_KEY.encode(), {}, body, now=sent)


def test_an_old_timestamp_from_a_stale_clock_is_refused_by_the_receiver(tmp_path, httpserver, receiver):
    clock = lambda: dt.datetime.now(dt.UTC).timestamp() - 600   # noqa: E731 (a sender 10 minutes behind)
    with pytest.raises(DeliveryError, match="HTTP 401") as err:
        webhook_target(tmp_path, httpserver.url_for("/hook"), clock=clock).send(message())
    assert not err.value.retryable


def test_503_with_retry_after_is_retryable_after_that_wait(tmp_path, httpserver):
    httpserver.expect_request("/hook").respond_with_data("maintenance", status=503,
                                                         headers={"Retry-After": "120"},
                                                         content_type="text/plain")
    with pytest.raises(DeliveryError) as err:
        webhook_target(tmp_path, httpserver.url_for("/hook")).send(message())
    assert err.value.retryable and err.value.retry_after == 120
    assert str(err.value).endswith("/hook: HTTP 503 SERVICE UNAVAILABLE: maintenance")


def test_retry_after_as_an_http_date_and_429(tmp_path, httpserver):
    now = 1_800_000_000.0
    later = email.utils.formatdate(now + 90, usegmt=True)
    httpserver.expect_request("/hook").respond_with_data("", status=429, headers={"Retry-After": later})
    with pytest.raises(DeliveryError) as err:
        webhook_target(tmp_path, httpserver.url_for("/hook"), clock=lambda: now).send(message())
    assert err.value.retryable and err.value.retry_after == 90


@pytest.mark.parametrize("status, retryable", [(500, True), (502, True), (504, True), (400, False),
                                               (403, False), (404, False), (422, False)])
def test_which_statuses_are_retried(tmp_path, httpserver, status, retryable):
    httpserver.expect_request("/hook").respond_with_json({"message": "said so"}, status=status)
    with pytest.raises(DeliveryError, match=f"HTTP {status} .*: said so") as err:
        webhook_target(tmp_path, httpserver.url_for("/hook")).send(message())
    assert err.value.retryable is retryable and err.value.retry_after is None


def test_a_redirect_is_not_followed(tmp_path, httpserver):
    httpserver.expect_request("/hook").respond_with_data("", status=302,
                                                         headers={"Location": "/elsewhere?t=x"})
    httpserver.expect_request("/elsewhere").respond_with_data("", status=204)
    with pytest.raises(DeliveryError) as err:
        webhook_target(tmp_path, httpserver.url_for("/hook")).send(message())
    assert not err.value.retryable
    assert f"HTTP 302 FOUND: redirected to http://localhost:{httpserver.port}/elsewhere; redirects are " \
           "not followed" in str(err.value)
    assert [r.path for r, _ in httpserver.log] == ["/hook"]


def test_refused_and_silent_receivers_are_retryable(tmp_path, silent_port):
    port = free_port()
    with pytest.raises(DeliveryError, match=f"POST http://127.0.0.1:{port}/hook: cannot connect: "
                                            "connection refused") as err:
        webhook_target(tmp_path, f"http://127.0.0.1:{port}/hook").send(message())
    assert err.value.retryable
    with pytest.raises(DeliveryError, match=r"no answer within 0.2 s") as err:
        webhook_target(tmp_path, f"http://127.0.0.1:{silent_port}/hook", timeout=0.2).send(message())
    assert err.value.retryable


@pytest.fixture
def https_server(pki):
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=server_context(pki))
    server.start()
    server.expect_request("/hook", method="POST").respond_with_data("", status=204)
    yield server
    server.clear()
    server.stop()


def test_https_with_a_private_ca_and_an_untrusted_certificate(tmp_path, https_server, pki):
    url = f"https://localhost:{https_server.port}/hook"
    assert webhook_target(tmp_path, url, ca_file=str(pki["ca"])).send(message()) == "HTTP 204"
    with pytest.raises(DeliveryError, match="TLS failed \\(the certificate is not trusted\\); for a private "
                                            "CA set ca_file") as err:
        webhook_target(tmp_path, url).send(message())
    assert not err.value.retryable


def test_plain_http_is_only_for_this_machine_unless_allowed(tmp_path):
    with pytest.raises(ConfigError, match=r"notifications.targets.hook.url: http://hooks.example.com/in is "
                                          r"plain HTTP to another machine.*allow_plaintext: true"):
        webhook_target(tmp_path, "http://hooks.example.com/in?token=x")
    assert webhook_target(tmp_path, "http://hooks.example.com/in", allow_plaintext=True)
    assert webhook_target(tmp_path, "http://[::1]:8080/in") and webhook_target(tmp_path, "https://h/in")


def test_webhook_settings(tmp_path):
    with pytest.raises(ConfigError, match="X-Dialtone-Signature is set by the target itself"):
        webhook_target(tmp_path, "https://h/in", headers={"X-Dialtone-Signature": "forged"})
    with pytest.raises(ConfigError, match=r"notifications.targets.hook: .* is not valid under any of"):
        check_target_settings("hook", {"type": "webhook", "url": "https://h/in"}, lambda at: 1, "d.yaml")
    with pytest.raises(ConfigError, match="notifications.targets.hook.url: 'ftp://h' does not match"):
        check_target_settings("hook", {"type": "webhook", "url": "ftp://h", "secret_env": "K"},
                              lambda at: 1, "d.yaml")


# -- the payload's schema ------------------------------------------------------------------
def payloads() -> dict[str, dict]:
    new = message().payload
    digest = message(findings=[finding(1), finding(2, savings=None, due_on=None, reason="expired",
                                                   evidence={}, history=())]).payload
    return {
        "new": new,
        "digest": {**digest, "kind": "digest", "rule": "daily", "dialtone_url": None},
        "exception_expiring": {**new, "kind": "exception_expiring", "findings": [],
                               "exception": {"id": 3, "policy_id": "cost.unused-line",
                                             "expires_on": "2026-07-14", "justification": "Spare line"}},
        "run_failed": {**new, "kind": "run_failed", "rule": "ops", "findings": [],
                       "run": {"id": 12, "status": "failed", "error": "source pbx: timed out"}},
        "test": {**new, "kind": "test", "rule": None, "findings": [], "dialtone_url": None},
        "with ticket": {**new, "kind": "reopened",
                        "ticket": {"target": "jira", "key": "TEL-12", "url": "https://j/browse/TEL-12"}},
    }


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(PAYLOAD_SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@pytest.mark.parametrize("kind", list(payloads()))
def test_payloads_of_each_kind_match_the_schema(validator, kind):
    assert list(validator.iter_errors(payloads()[kind])) == []


@pytest.mark.parametrize("change, error", [
    (lambda p: p.pop("schema"), "'schema' is a required property"),
    (lambda p: p.update(schema="dialtone.notification/2"), "'dialtone.notification/1' was expected"),
    (lambda p: p.update(created_at="yesterday"), "is not a 'date-time'"),
    (lambda p: p.update(extra=1), "Additional properties are not allowed"),
    (lambda p: p["findings"][0]["policy"].update(severity="urgent"), "is not one of"),
    (lambda p: p["findings"][0].update(due_on="31/07/2026"), "is not valid under any of"),
    (lambda p: p["findings"][0].pop("history"), "'history' is a required property"),
    (lambda p: p.update(run={"id": 1, "status": "failed"}), "'error' is a required property"),
])
def test_payloads_off_the_schema_are_refused(validator, change, error):
    payload = json.loads(json.dumps(payloads()["new"]))
    change(payload)
    assert any(error in e.message for e in validator.iter_errors(payload))


def test_the_schema_ships_with_the_package():
    import importlib.resources

    text = (importlib.resources.files("dialtone.notifiers") / "schemas" / "webhook-payload.json").read_text()
    assert json.loads(text)["properties"]["schema"] == {"const": "dialtone.notification/1"}
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"dialtone.notifiers" = ["schemas/*.json"]' in pyproject


# -- the docs --------------------------------------------------------------------------------
def test_every_documented_target_example_passes_its_schema():
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    seen = set()
    for block in blocks:
        targets = (safe_load(block).get("notifications") or {}).get("targets") or {}
        for name, spec in targets.items():
            if spec["type"] not in ("email", "apprise", "webhook"):
                continue
            assert check_target_settings(name, spec, lambda at: 1, str(DOCS)) is notifiers.get(spec["type"])
            seen.add(spec["type"])
            schema_keys = set(notifiers.get(spec["type"]).settings_schema["properties"])
            documented = set(re.findall(r"^\| `([a-z_]+)`", DOCS.read_text(encoding="utf-8"), re.M))
            assert schema_keys <= documented | {k for k in schema_keys if k.endswith(("_env", "_file"))}
    assert seen == {"email", "apprise", "webhook"}


def test_the_documented_payload_example_matches_the_schema(validator):
    block, = [b for b in re.findall(r"```json\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
              if '"schema": "dialtone.notification/1"' in b]
    assert list(validator.iter_errors(json.loads(block))) == []
