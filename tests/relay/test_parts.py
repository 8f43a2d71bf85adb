"""The relay's parts on their own: configuration, signatures (checked by the service's own code), the
AMI encoding (read by the service's own parser), Retry-After, and the spool's batches and locks."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from hotline_api.cli import cli
from hotline_api.relay import events
from hotline_api.relay.config import ConfigError, load_settings
from hotline_api.relay.forwarder import retry_after, sign
from hotline_api.relay.spool import Spool, SpoolError
from hotline_api.telephony.credentials import ActiveSecret, _signature_ok, new_secret
from hotline_api.telephony.parsing import parse_body
from hotline_api.telephony.scenarios import ami_text
from tests.relay.conftest import calls, events_of, write_config

SECRET = new_secret()


def _minimal(tmp_path: Path, **extra: object) -> Path:
    config: dict[str, object] = {
        "switchboard": "danang",
        "service": {"url": "https://hotline.example.vn/", "secret": SECRET},
        "ari": {"password": "ari-secret-value"},
        **extra,
    }
    return write_config(tmp_path / "relay.toml", config)


def test_the_file_is_read_and_the_environment_overrides_it(tmp_path: Path) -> None:
    path = _minimal(
        tmp_path, ami={"enabled": True, "secret": "ami-secret-value", "ignore_events": ["RTCPSent"]}
    )
    settings = load_settings(
        path,
        environ={
            "HOTLINE_RELAY_FORWARD_BATCH_MAX_EVENTS": "20",
            "HOTLINE_RELAY_AMI_IGNORE_EVENTS": "RTCPSent, RTCPReceived",
            "HOTLINE_RELAY_SWITCHBOARD": "angiang",
            "HOTLINE_RELAY_CONFIG": "ignored",
            "HOTLINE_DATABASE_URL": "not the relay's",
        },
    )
    assert settings.switchboard == "angiang"
    assert settings.service_url == "https://hotline.example.vn"
    assert settings.forward_batch_max_events == 20
    assert settings.ami_ignore_events == ["RTCPSent", "RTCPReceived"]
    assert settings.ari_url == "ws://127.0.0.1:8088/ari/events"
    assert settings.hmac_key() == base64.b64decode(SECRET.removeprefix("whsec_"))
    # secrets never show in a repr (nor so in a log line)
    assert "ari-secret-value" not in repr(settings) and SECRET not in repr(settings)


@pytest.mark.parametrize(
    ("extra", "environ", "message"),
    [
        ({"colour": "blue"}, {}, "unknown key or section 'colour'"),
        ({"ari": {"password": "x", "passwrd": "y"}}, {}, "[ari] passwrd"),
        ({}, {"HOTLINE_RELAY_FORWARD_BATCH_MAX_EVENTS": "5000"}, "HOTLINE_RELAY_FORWARD_BATCH_MAX_EVENTS"),
        ({"ari": {"url": "ws://user:pw@pbx:8088/ari/events", "password": "x"}}, {}, "[ari] url"),
        ({"ari": {"enabled": False}}, {}, "nothing to relay"),
        ({"ami": {"enabled": True}}, {}, "[ami] secret is missing"),
    ],
)
def test_a_wrong_configuration_says_which_key(
    tmp_path: Path, extra: dict[str, object], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(_minimal(tmp_path, **extra), environ=environ)
    assert message in str(exc.value)
    assert "pw@" not in str(exc.value) and SECRET not in str(exc.value)


def test_the_secret_can_come_from_a_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    path = write_config(
        tmp_path / "relay.toml",
        {
            "switchboard": "hanoi",
            "service": {"url": "http://127.0.0.1:8000", "secret_file": str(secret_file)},
            "ari": {"password": "p"},
        },
    )
    assert load_settings(path, environ={}).secret() == SECRET
    secret_file.write_text("not-a-webhook-secret")
    with pytest.raises(ConfigError, match="whsec_"):
        load_settings(path, environ={}).hmac_key()


def test_the_command_refuses_a_bad_configuration_plainly(tmp_path: Path) -> None:
    path = write_config(tmp_path / "relay.toml", {"switchboard": "hanoi", "service": {"url": "http://x"}})
    result = CliRunner().invoke(
        cli, ["relay", "--config", str(path)], env={"HOTLINE_RELAY_ARI_PASSWORD": "p"}
    )
    assert result.exit_code == 2
    assert "secret" in result.output


def test_signatures_are_the_ones_the_service_checks() -> None:
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    body = b'[{"type":"StasisStart"}]'
    headers = sign(key, "relay_hanoi_ari_x", body)
    secret = ActiveSecret("cred_1", SECRET)
    assert _signature_ok(
        secret, headers["webhook-id"], headers["webhook-timestamp"], body, headers["webhook-signature"]
    )
    assert not _signature_ok(
        secret, headers["webhook-id"], headers["webhook-timestamp"], body + b" ", headers["webhook-signature"]
    )


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after("7") == 7.0
    assert retry_after(None) is None and retry_after("soon") is None
    later = retry_after(format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True))
    assert later is not None and 25 < later <= 30
    assert retry_after(format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)) == 0.0


def test_ami_events_are_sent_as_json_the_service_reads_with_repeated_headers_kept() -> None:
    scenario = calls(1)[0]
    raw = [ami_text([e]).rstrip(b"\r\n") for e in events_of([scenario], "ami")]
    raw[0] += b"\r\nChanVariable: CDR(userfield)=a\r\nChanVariable: HOTLINE_ORIGIN="
    body, content_type = events.encode("ami", raw, True)
    parsed = parse_body("ami", body, content_type, ZoneInfo("Asia/Ho_Chi_Minh"), datetime.now(UTC))
    assert [e.event_type for e in parsed] == [e["Event"] for e in events_of([scenario], "ami")]
    assert {e.linkedid for e in parsed} == {scenario.linkedid}
    assert json.loads(body)[0]["ChanVariable"] == ["CDR(userfield)=a", "HOTLINE_ORIGIN="]
    # one event alone: the object itself
    single, _ = events.encode("ami", raw[1:2], True)
    assert json.loads(single) == events_of([scenario], "ami")[1]
    # a block that is not AMI is sent alone, as it came
    assert not events.prepare("hanoi", "ami", b"Event: X\r\nno colon here").batchable
    assert events.encode("ami", [b"Event: X\r\nno colon"], False) == (
        b"Event: X\r\nno colon",
        "text/plain; charset=utf-8",
    )


def test_the_spool_plans_batches_once_keeps_each_source_in_order_and_recognises_copies(
    tmp_path: Path,
) -> None:
    path = tmp_path / "spool" / "s.sqlite3"
    spool = Spool(path, "hanoi")
    try:
        with pytest.raises(SpoolError, match="another relay"):
            Spool(path, "hanoi")
        ari = [json.dumps({"type": "T", "n": i}).encode() for i in range(5)]
        ami = [f"Event: E\r\nN: {i}".encode() for i in range(3)]
        added = [
            spool.add("ari", ari[0]),
            spool.add("ami", ami[0]),
            spool.add("ari", ari[1]),
            spool.add("ari", b"not json"),
            spool.add("ari", ari[2]),
            spool.add("ami", ami[1]),
        ]
        seqs = [n for n in added if n is not None]
        assert len(seqs) == len(added)
        assert spool.add("ari", ari[1]) is None, "the same event twice is one event"
        first = spool.next_batch(100, 256 * 1024)
        assert first is not None and first.source == "ari" and first.seqs == [seqs[0], seqs[2]]
        assert first.webhook_id == events.batch_webhook_id("hanoi", "ari", spool.spool_id, seqs[0], seqs[2])
        # not sent yet: asked again (or after a restart), the same batch under the same id
        assert spool.next_batch(100, 256 * 1024) == first
        spool_id = spool.spool_id
    finally:
        spool.close()
    spool = Spool(path, "hanoi")
    try:
        assert spool.spool_id == spool_id
        assert spool.next_batch(100, 256 * 1024) == first
        spool.mark_sent(first.seqs)
        second = spool.next_batch(100, 256 * 1024)
        assert second is not None and second.source == "ami" and second.seqs == [seqs[1], seqs[5]]
        spool.split(second.seqs)  # refused as malformed: one by one now
        alone = spool.next_batch(100, 256 * 1024)
        assert alone is not None and alone.seqs == [seqs[1]]
        assert alone.webhook_id == events.event_webhook_id("hanoi", "ami", ami[0])
        spool.reject(seqs[1], 422, "event 0: Linkedid is missing")
        # the oldest waiting event next: an ARI message that is not JSON goes alone, as it came
        broken = spool.next_batch(100, 256 * 1024)
        assert broken is not None and broken.seqs == [seqs[3]] and not broken.batchable
        spool.reject(seqs[3], 400, "not JSON")
        ari_last = spool.next_batch(100, 256 * 1024)
        assert ari_last is not None and ari_last.seqs == [seqs[4]]
        spool.mark_sent(ari_last.seqs)
        ami_last = spool.next_batch(100, 256 * 1024)
        assert ami_last is not None and ami_last.seqs == [seqs[5]], "still alone after the split"
        spool.mark_sent(ami_last.seqs)
        assert spool.next_batch(100, 256 * 1024) is None
        stats = spool.stats()
        assert (stats.backlog, stats.rejected) == (0, 2)
        assert [(r[0], r[2]) for r in spool.rejected()] == [(seqs[1], 422), (seqs[3], 400)]
        # a size limit ends a batch early, never skipping an event
        for i in range(10):
            spool.add("ari", json.dumps({"type": "T", "pad": "x" * 500, "n": i}).encode())
        sizes = []
        while (batch := spool.next_batch(100, 1200)) is not None:
            sizes.append(len(batch))
            spool.mark_sent(batch.seqs)
        assert sizes == [2, 2, 2, 2, 2]
        assert spool.prune(0, 0) > 0
    finally:
        spool.close()
    # durable settings, and private: the file holds callers' numbers while events wait
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT count(*) FROM events WHERE body IS NOT NULL").fetchone()[0] == 0
    finally:
        db.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
