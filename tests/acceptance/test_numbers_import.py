"""`openrevox numbers import`: every number of the carrier account becomes the organization's (one
already another organization's stays there), and its inbound calls are pointed at this server;
run again, it changes nothing. Against the fake Twilio and Telnyx APIs, over real sockets."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import run_cli
from fakes.telnyx_rest import FakeTelnyx
from fakes.twilio_rest import FakeTwilio

PUBLIC_URL = "https://calls.example.com"


def carrier_env(carrier, tmp_path) -> dict[str, str]:  # noqa: ANN001
    env = {**os.environ, "OPENREVOX_DATABASE_URL": f"sqlite:///{tmp_path / 'openrevox.db'}",
           "OPENREVOX_DATA_DIR": str(tmp_path), "OPENREVOX_PUBLIC_URL": PUBLIC_URL}  # fmt: skip
    if isinstance(carrier, FakeTwilio):
        return env | {"TWILIO_ACCOUNT_SID": carrier.account_sid, "TWILIO_AUTH_TOKEN": carrier.auth_token,
                      "OPENREVOX_TWILIO_API_URL": carrier.url}  # fmt: skip
    return env | {"TELNYX_API_KEY": carrier.api_key, "TELNYX_CONNECTION_ID": carrier.connection_id,
                  "TELNYX_PUBLIC_KEY": carrier.public_key, "OPENREVOX_TELNYX_API_URL": carrier.url}  # fmt: skip


def routed_to_us(carrier, number_id: str) -> bool:  # noqa: ANN001
    number = carrier.numbers[number_id]
    if isinstance(carrier, FakeTwilio):
        return (number["voice_url"], number.get("voice_method")) == (f"{PUBLIC_URL}/telephony/twilio/voice", "POST")
    return number["connection_id"] == carrier.connection_id


@pytest.mark.parametrize("fake", [FakeTwilio, FakeTelnyx])
def test_import_takes_the_account_numbers_and_routes_them_here(fake, tmp_path) -> None:
    with fake() as carrier:
        carrier.page_size = 1  # Telnyx: every page is read
        sales = carrier.own("+14155550201", "Sales")
        support = carrier.own("+14155550202")
        env = carrier_env(carrier, tmp_path)
        run_cli(env, "numbers", "add", "+14155550202", "--org", "other")
        out = run_cli(env, "numbers", "import", "--org", "acme")
        assert out.splitlines() == ["+14155550201 added", "+14155550202 skipped: another organization's"]
        assert routed_to_us(carrier, sales)
        assert not routed_to_us(carrier, support)
        assert run_cli(env, "numbers", "import", "--org", "acme").splitlines()[0] == "+14155550201 already there"
        listed = run_cli(env, "numbers", "list", "--org", "acme").split()
        assert listed[:2] == ["+14155550201", carrier.__class__.__name__.removeprefix("Fake").lower()]
        if isinstance(carrier, FakeTwilio):
            assert listed[2] == "Sales"  # the friendly name is the label


def test_import_needs_a_carrier(tmp_path) -> None:
    env = {**os.environ, "OPENREVOX_DATABASE_URL": f"sqlite:///{tmp_path / 'db'}", "OPENREVOX_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "openrevox.cli", "numbers", "import"], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode != 0
    assert "no carrier is configured" in done.stderr
