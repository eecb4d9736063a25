"""The Cloud API simulator: Meta's shapes, signed webhook deliveries, inbound messages, faults."""

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path

import pytest
import requests
from django.core.management import call_command

from simulator.meta import INBOUND_TYPES, arrival_summary
from simulator.server import Simulator
from tests.processes import free_port, log_of, running, wait_for, wait_for_port

CUSTOMER = "+919876543210"
ROOT = Path(__file__).resolve().parents[2]


class Receiver:
    """A loopback webhook endpoint that records what it receives and answers with `answers` in turn."""

    def __init__(self):
        self.received, self.answers = [], []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append({"body": body, "signature": self.headers.get("X-Hub-Signature-256")})
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/whatsapp/webhook"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def payloads(self):
        return [json.loads(item["body"]) for item in self.received]

    def wait_for(self, count, timeout=10):
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.received) >= count, f"{len(self.received)} deliveries, expected {count}"
        return self.payloads()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def hooked(simulator, receiver):
    simulator.configure(webhook_url=receiver.url, status_mode="ordered", status_delay=0.02)
    return simulator


def post(simulator, path, body, token=None):
    headers = {"Authorization": f"Bearer {token or simulator.token}"}
    return requests.post(f"{simulator.url}/v24.0/{path}", json=body, headers=headers, timeout=5)


def send(simulator, **fields):
    body = {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": "Hi"}, **fields}
    return post(simulator, f"{simulator.phone_number_id}/messages", body)


def statuses(payloads):
    return [s for p in payloads for e in p["entry"] for c in e["changes"] for s in c["value"].get("statuses", [])]


def test_it_answers_a_send_in_metas_shape(simulator):
    response = send(simulator)
    assert response.status_code == 200
    body = response.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": CUSTOMER, "wa_id": "919876543210"}]
    assert body["messages"][0]["id"].startswith("wamid.")
    assert simulator.state()["sends"][0]["wamid"] == body["messages"][0]["id"]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"messaging_product": "sms"}, 100),
        ({"to": "919876543210"}, 100),
        ({"type": "carrier_pigeon", "carrier_pigeon": {}}, 100),
        ({"text": {"body": "x" * 4097}}, 100),
        ({"text": {"body": ""}}, 131008),
        ({"type": "image", "image": {"link": "https://e.com/a.jpg", "caption": "c" * 1025}}, 100),
        ({"type": "image", "image": {"id": "1", "link": "https://e.com/a.jpg"}}, 131008),
        ({"type": "image", "image": {"id": "424242"}}, 131053),
        ({"type": "audio", "audio": {"link": "https://e.com/a.ogg", "caption": "no"}}, 100),
        ({"type": "template", "template": {"name": "no_such", "language": {"code": "en_US"}}}, 132001),
        ({"type": "template", "template": {"name": "festival_offer", "language": {"code": "en_US"}}}, 132001),
        ({"type": "template", "template": {"name": "order_update", "language": {"code": "en_US"}}}, 132000),
        ({"type": "template", "template": {"name": "order_update"}}, 131008),
        ({"type": "reaction", "reaction": {"emoji": "👍"}}, 131008),
        ({"type": "reaction", "reaction": {"message_id": "wamid.A", "emoji": "yes"}}, 131009),
        ({"context": {"message_id": 42}}, 100),
        ({"context": "wamid.A"}, 100),
        ({"biz_opaque_callback_data": "x" * 513}, 100),
    ],
)
def test_it_refuses_invalid_sends_as_meta_does(simulator, fields, code):
    response = send(simulator, **fields)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert error["type"] == "OAuthException"
    assert error["message"].startswith(f"(#{code})")
    assert error["error_data"]["details"]
    assert error["fbtrace_id"]
    assert simulator.state()["sends"] == []


def test_it_accepts_replies_reactions_and_their_removal_as_meta_does(simulator):
    assert send(simulator, context={"message_id": "wamid.Q"}).status_code == 200
    for emoji in ("❤️", "👍🏽", ""):
        assert send(simulator, type="reaction", reaction={"message_id": "wamid.Q", "emoji": emoji}).status_code == 200
    bodies = [s["body"] for s in simulator.state()["sends"]]
    assert bodies[0]["context"] == {"message_id": "wamid.Q"}
    assert [b["reaction"]["emoji"] for b in bodies[1:]] == ["❤️", "👍🏽", ""]


def test_it_shows_the_typing_indicator_only_in_metas_shape(simulator):
    path = f"{simulator.phone_number_id}/messages"
    read = {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN"}
    assert post(simulator, path, {**read, "typing_indicator": {"type": "text"}}).json() == {"success": True}
    refused = post(simulator, path, {**read, "typing_indicator": {"type": "audio"}})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == 100
    assert post(simulator, path, read).json() == {"success": True}
    assert [r["typing"] for r in simulator.state()["reads"]] == [True, False]


def test_it_needs_the_bearer_token_and_the_right_number(simulator):
    refused = post(simulator, f"{simulator.phone_number_id}/messages", {}, token="wrong")
    assert (refused.status_code, refused.json()["error"]["code"]) == (401, 190)
    unknown = post(simulator, "999/messages", {"messaging_product": "whatsapp"})
    assert (unknown.json()["error"]["code"], unknown.json()["error"]["error_subcode"]) == (100, 33)


def test_it_injects_faults_by_number_with_retry_after_through_the_control_endpoint(simulator):
    fault = {"to": CUSTOMER, "code": 130429, "retry_after": 9, "times": 1}
    assert requests.post(f"{simulator.url}/_sim/faults", json=fault, timeout=5).status_code == 201
    other = send(simulator, to="+14155550100")
    assert other.status_code == 200
    limited = send(simulator)
    assert (limited.status_code, limited.headers["Retry-After"], limited.json()["error"]["code"]) == (429, "9", 130429)
    assert send(simulator).status_code == 200  # times=1: the fault is used up
    requests.post(f"{simulator.url}/_sim/faults", json={"code": 131026}, timeout=5)
    assert send(simulator).json()["error"]["code"] == 131026
    requests.delete(f"{simulator.url}/_sim/faults", timeout=5)
    assert send(simulator).status_code == 200
    state = requests.get(f"{simulator.url}/_sim/state", timeout=5).json()
    assert [s["to"] for s in state["sends"]] == ["+14155550100", CUSTOMER, CUSTOMER]


def test_it_delivers_signed_sent_delivered_and_read_statuses_in_order(hooked, receiver):
    wamid = send(hooked, biz_opaque_callback_data="madio:7").json()["messages"][0]["id"]
    payloads = receiver.wait_for(3)
    for item in receiver.received:
        expected = "sha256=" + hmac.new(hooked.app_secret.encode(), item["body"], hashlib.sha256).hexdigest()
        assert item["signature"] == expected
        assert item["body"].isascii()  # Meta escapes non-ASCII
    assert [s["status"] for s in statuses(payloads)] == ["sent", "delivered", "read"]
    assert {s["id"] for s in statuses(payloads)} == {wamid}
    assert {s["biz_opaque_callback_data"] for s in statuses(payloads)} == {"madio:7"}
    value = payloads[0]["entry"][0]["changes"][0]["value"]
    assert payloads[0]["object"] == "whatsapp_business_account"
    assert value["metadata"]["phone_number_id"] == hooked.phone_number_id
    assert statuses(payloads)[0]["recipient_id"] == "919876543210"


def test_it_reports_a_failure_as_a_status_when_asked(hooked, receiver):
    hooked.add_fault(code=131026, as_status=True, times=1)
    assert send(hooked).status_code == 200
    (failed,) = statuses(receiver.wait_for(1))
    assert failed["status"] == "failed"
    assert failed["errors"][0]["code"] == 131026


def test_it_plays_metas_habits_in_realistic_mode(hooked, receiver):
    hooked.configure(status_mode="realistic", seed=3)
    wamids = [send(hooked).json()["messages"][0]["id"] for _ in range(30)]

    def every_one_read():
        # Nothing left to deliver is not enough: the last delivery may still be on its way to the receiver.
        read = {s["id"] for s in statuses(receiver.payloads()) if s["status"] == "read"}
        return not hooked.state()["pending_deliveries"] and read >= set(wamids)

    deadline = time.monotonic() + 10
    while not every_one_read() and time.monotonic() < deadline:
        time.sleep(0.05)
    payloads = receiver.payloads()
    seen = statuses(payloads)
    by_message = {w: [s["status"] for s in seen if s["id"] == w] for w in wamids}
    assert all("read" in names and names[0] in ("sent", "delivered", "read") for names in by_message.values())
    assert any(len(set(names)) < len(names) for names in by_message.values()), "a repeated status"
    assert any("delivered" not in names for names in by_message.values()), "a skipped delivered"
    assert any(
        "delivered" in names and names.index("read") < names.index("delivered") for names in by_message.values()
    ), "read before delivered"
    batch_sizes = [len(statuses([p])) for p in payloads]
    assert max(batch_sizes) > 1, "several statuses in one delivery"


def test_it_redelivers_when_the_webhook_fails(hooked, receiver):
    receiver.answers = [500]
    hooked.inbound_message(sender=CUSTOMER, text="Hello?")
    payloads = receiver.wait_for(2, timeout=5)
    assert payloads[0] == payloads[1]


@pytest.mark.parametrize("kind", INBOUND_TYPES)
def test_it_sends_inbound_messages_of_every_type(hooked, receiver, kind):
    if kind == "reaction":
        send(hooked)
        receiver.wait_for(3)
        receiver.received.clear()
    wamid = hooked.inbound_message(sender=CUSTOMER, kind=kind, text="Namaste ✓", name="Asha")
    payload = next(p for p in receiver.wait_for(1) if "messages" in p["entry"][0]["changes"][0]["value"])
    value = payload["entry"][0]["changes"][0]["value"]
    (message,) = value["messages"]
    assert (message["id"], message["type"], message["from"]) == (wamid, kind, "919876543210")
    assert value["contacts"] == [{"profile": {"name": "Asha"}, "wa_id": "919876543210"}]
    assert message["timestamp"].isdigit()
    if kind in ("image", "video", "audio", "document", "sticker"):
        info = requests.get(
            f"{hooked.url}/v24.0/{message[kind]['id']}",
            headers={"Authorization": f"Bearer {hooked.token}"},
            timeout=5,
        ).json()
        assert info["sha256"] == message[kind]["sha256"]
        download = requests.get(info["url"], headers={"Authorization": f"Bearer {hooked.token}"}, timeout=5)
        assert len(download.content) == info["file_size"]
        assert requests.get(info["url"], timeout=5).status_code == 401
    if kind == "text":
        assert message["text"] == {"body": "Namaste ✓"}
    if kind == "reaction":
        assert message["reaction"] == {"message_id": hooked.state()["sends"][0]["wamid"], "emoji": "Namaste ✓"}
    if kind == "unsupported":
        assert message["errors"][0]["code"] == 131051


def test_its_page_sends_a_customer_message_from_a_form(hooked, receiver):
    page = requests.get(hooked.url + "/", timeout=5)
    assert page.status_code == 200
    assert '<form method="post" action="/_sim/inbound">' in page.text
    response = requests.post(
        hooked.url + "/_sim/inbound",
        data={"from": CUSTOMER, "type": "text", "text": "From the form", "name": "Asha"},
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 303
    (payload,) = receiver.wait_for(1)
    assert payload["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] == "From the form"
    escaped = requests.get(hooked.url + "/?sent=<script>", timeout=5).text
    assert "<script>" not in escaped
    assert "&lt;script&gt;" in escaped


def test_its_command_sends_an_inbound_message_to_a_running_simulator(hooked, receiver):
    out = StringIO()
    call_command(
        "whatsapp_simulator",
        "--send-inbound",
        "location",
        "--simulator-url",
        hooked.url,
        "--from",
        CUSTOMER,
        stdout=out,
    )
    assert "Delivered location message wamid." in out.getvalue()
    (payload,) = receiver.wait_for(1)
    assert payload["entry"][0]["changes"][0]["value"]["messages"][0]["location"]["latitude"] == 19.076


@pytest.mark.slow
def test_its_command_serves_the_cloud_api(tmp_path):
    port = free_port()
    env = {**os.environ, "WHATSAPP_ACCESS_TOKEN": "cmd-token", "DATA_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "manage.py", "whatsapp_simulator", "--port", port, "--statuses", "none"]
    with running(command, env=env, timeout=10) as process:
        wait_for_port(port, process=process, timeout=30)
        response = requests.get(
            f"http://127.0.0.1:{port}/v24.0/200000000000001/message_templates",
            headers={"Authorization": "Bearer cmd-token"},
            timeout=2,
        )
        assert response.status_code == 200
        assert {t["name"] for t in response.json()["data"]} >= {"hello_world", "order_update"}


def test_it_pages_templates_like_meta():
    simulator = Simulator(port=0).start()
    try:
        headers = {"Authorization": f"Bearer {simulator.token}"}
        url = f"{simulator.url}/v24.0/{simulator.business_account_id}/message_templates?limit=4"
        first = requests.get(url, headers=headers, timeout=5).json()
        assert len(first["data"]) == 4
        second = requests.get(first["paging"]["next"], headers=headers, timeout=5).json()
        assert len(second["data"]) == 2
        assert "next" not in second["paging"]
    finally:
        simulator.stop()


def make_dry_run(**env):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WHATSAPP_")}
    environment.update(env)
    return subprocess.run(
        ["make", "-n", "run", "PORT=8100"], cwd=ROOT, env=environment, capture_output=True, text=True, check=True
    ).stdout


def test_make_run_starts_the_simulator_only_without_an_access_token():
    if (ROOT / ".env").exists() and "WHATSAPP_ACCESS_TOKEN=" in (ROOT / ".env").read_text():
        pytest.skip("A local .env sets WHATSAPP_ACCESS_TOKEN")
    assert "-f Procfile.simulator" in make_dry_run()
    assert "-f Procfile -p 8100" in make_dry_run(WHATSAPP_ACCESS_TOKEN="EAAG-real")
    procfile = (ROOT / "Procfile.simulator").read_text()
    assert procfile.startswith((ROOT / "Procfile").read_text())
    assert "simulator: python manage.py whatsapp_simulator --port $WHATSAPP_SIMULATOR_PORT" in procfile


@pytest.mark.slow
def test_make_run_serves_the_simulator_beside_the_app(tmp_path):
    port, simulator_port = free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DJANGO_", "WHATSAPP_", "DEBUG"))
    }
    env.update(DATA_DIR=str(tmp_path / "var"), PORT=str(port), SIMULATOR_PORT=str(simulator_port))

    def both_answer():
        try:
            page = requests.get(f"http://127.0.0.1:{simulator_port}/", timeout=2)
            requests.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=2).raise_for_status()
        except requests.RequestException:
            return None
        return page

    with running(["make", "run"], env=env, log=tmp_path / "run.log", sig=signal.SIGINT) as process:
        page = wait_for(lambda: process.poll() is not None or both_answer(), timeout=120, message="make run")
        assert process.poll() is None, log_of(process)[-3000:]
        assert page.status_code == 200
        assert f"http://127.0.0.1:{port}/api/whatsapp/webhook" in page.text


def test_it_counts_send_requests_by_the_second_they_arrive_in():
    arrivals = iter([100.2, 100.9, 101.05, 101.1, 101.8])  # an injected clock: one reading per send request
    simulator = Simulator(port=0, status_mode="none", clock=lambda: next(arrivals)).start()
    try:
        simulator.add_fault(code=131000, times=1)
        assert send(simulator).status_code == 500  # refused, but it arrived: counted
        for _ in range(4):
            assert send(simulator).status_code == 200
        read = {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.X"}
        assert post(simulator, f"{simulator.phone_number_id}/messages", read).status_code == 200  # not a send
        counts = requests.get(f"{simulator.url}/_sim/arrivals", timeout=5).json()
    finally:
        simulator.stop()
    assert counts["count"] == 5
    assert counts["per_second"] == [[100, 2], [101, 3]]
    assert counts["busiest_second"] == {"second": 101, "count": 3}
    assert counts["busiest_window"] == {"start": 100.2, "count": 4}  # 100.2 to 101.1, across two seconds
    assert counts["rate"] == round(4 / 1.6, 2)


def test_it_finds_a_busier_one_second_span_than_any_wall_clock_second():
    counts = arrival_summary([10.6, 10.8, 11.1, 11.5, 12.7, 13.6])
    assert counts["per_second"] == [[10, 2], [11, 2], [12, 1], [13, 1]]
    assert counts["busiest_second"] == {"second": 10, "count": 2}  # the first of the busiest
    assert counts["busiest_window"] == {"start": 10.6, "count": 4}
    assert arrival_summary([])["busiest_window"] == {"start": None, "count": 0}


def test_it_forgets_arrivals_on_reset(simulator):
    assert send(simulator).status_code == 200
    assert simulator.arrival_counts()["count"] == 1
    assert requests.post(f"{simulator.url}/_sim/reset", timeout=5).status_code == 200
    assert simulator.arrival_counts()["count"] == 0


@pytest.mark.parametrize(
    ("interactive", "tapped", "expected"),
    [
        (
            {
                "type": "button",
                "body": {"text": "Deliver tomorrow?"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": "button-1", "title": "Yes"}},
                        {"type": "reply", "reply": {"id": "button-2", "title": "Another day"}},
                    ]
                },
            },
            "Another day",
            {"type": "button_reply", "button_reply": {"id": "button-2", "title": "Another day"}},
        ),
        (
            {
                "type": "list",
                "body": {"text": "When?"},
                "action": {
                    "button": "Pick",
                    "sections": [{"rows": [{"id": "row-1", "title": "Morning", "description": "9 to 12"}]}],
                },
            },
            "",
            {"type": "list_reply", "list_reply": {"id": "row-1", "title": "Morning", "description": "9 to 12"}},
        ),
    ],
)
def test_a_customer_taps_a_choice_of_the_last_buttons_or_list_sent(hooked, receiver, interactive, tapped, expected):
    sent = post(
        hooked,
        f"{hooked.phone_number_id}/messages",
        {
            "messaging_product": "whatsapp",
            "to": CUSTOMER,
            "type": "interactive",
            "interactive": interactive,
        },
    )
    assert sent.status_code == 200
    receiver.wait_for(3)
    receiver.received.clear()
    hooked.inbound_message(sender=CUSTOMER, kind="interactive", text=tapped)
    payload = next(p for p in receiver.wait_for(1) if "messages" in p["entry"][0]["changes"][0]["value"])
    (message,) = payload["entry"][0]["changes"][0]["value"]["messages"]
    assert message["interactive"] == expected
    assert message["context"]["id"] == sent.json()["messages"][0]["id"]
