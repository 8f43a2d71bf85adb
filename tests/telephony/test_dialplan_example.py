"""The example dialplan, docs/asterisk/extensions.conf, held against the service, so that it cannot
drift from the contract (PRODUCT.md §1–2, docs/asterisk.md §2 and §7).

Read: every CURL() of the file, its URL (an endpoint the service serves), the fields it posts
(those the service reads, the mandatory ones included), every HASH(route,<key>) it reads (a key of
the service's answers), a branch for each of the four actions, and a documentation page cited for
every application and function the file uses.

Played: the file is run, line by line, by a small interpreter of the applications and functions it
uses, against the real service over HTTP (the ``client`` fixture): the caller's channel carries
realistic values (a caller number, a linkedid like 1748744102.1042, CDR times in the PBX's local
time), every CURL() is sent exactly as the dialplan builds it (form-encoded body, HTTP Basic built
from the CURLOPT(userpwd) line) and its answer is read back as ``hashcompat`` reads it. Each branch
is played: dial (and a counsellor who does not answer), wait, transfer with the leg at the receiving
switchboard, the service's own queue answer, a wrong secret and an unreachable service (the local
Queue() fallback), and the hangup handler's CDR post, stored.

The interpreter follows Asterisk's own code where the details matter — argument splitting
(main/app.c ``__ast_app_separate_args``), CURL() with ``hashcompat`` (funcs/func_curl.c),
``Set(HASH(name)=…)`` (funcs/func_strings.c ``array()``), ExecIf (apps/app_exec.c), GotoIf
(main/pbx_builtins.c), variable and ``$[…]`` substitution (main/pbx_variables.c) — and refuses any
application or function it does not model. It is no Asterisk: what it proves is that the example and
the service agree, not that a real Asterisk runs the example as written (docs/asterisk/README.md).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, unquote_plus, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from hotline_api.calls.models import Call, CallLeg, CallOffer
from hotline_api.routing import engine
from hotline_api.telephony import parsing
from hotline_api.telephony.models import WebhookEvent
from tests.conftest import free_port
from tests.factories import basic_auth, switchboard_secret
from tests.routing.conftest import counsellor, open_all_day
from tests.telephony.conftest import new_linkedid

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "asterisk" / "extensions.conf"
PBX_TZ = ZoneInfo("Asia/Ho_Chi_Minh")  # the switchboards' clocks: CDR times are local, without zone
ACTIONS = ("dial", "wait", "transfer", "queue")

# CURLOPT() keys (funcs/func_curl.c; docs.asterisk.org …/Dialplan_Functions/CURLOPT)
CURLOPT_KEYS = frozenset(
    {
        "cookie", "conntimeout", "dnstimeout", "followlocation", "ftptext", "ftptimeout", "header",
        "httpauth", "httpheader", "httptimeout", "maxredirs", "proxy", "proxytype", "proxyport",
        "proxyuserpwd", "referer", "useragent", "userpwd", "ssl_verifypeer", "hashcompat",
    }
)  # fmt: skip
# CDR() field names (funcs/func_cdr.c; docs.asterisk.org …/Dialplan_Functions/CDR)
CDR_FIELDS = frozenset(
    {
        "clid", "lastdata", "disposition", "src", "start", "amaflags", "dst", "answer", "accountcode",
        "dcontext", "end", "uniqueid", "dstchannel", "duration", "userfield", "lastapp", "billsec",
        "channel", "sequence",
    }
)  # fmt: skip
# Asterisk's standard channel variables the example may read (…/Asterisk-Standard-Channel-Variables)
BUILTIN_VARIABLES = frozenset(
    {"EXTEN", "CONTEXT", "UNIQUEID", "EPOCH", "DIALSTATUS", "QUEUESTATUS", "DIALEDPEERNAME", "ANSWEREDTIME"}
)
# PRODUCT.md §2: "Request: linkedid, uniqueid, caller, exten (111 or 18001567), attempt, optional …"
ROUTE_MANDATORY = frozenset({"linkedid", "uniqueid", "caller", "exten", "attempt"})
# applications so common that a per-line citation would be noise (the file still lists their pages)
UNTAGGED_APPS = frozenset({"Set", "NoOp"})


# ---- reading extensions.conf --------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    context: str
    exten: str
    priority: int
    label: str | None
    app: str
    data: str
    line: int
    comment: str  # the comment on the line and the comment lines just above it


@dataclass
class Dialplan:
    globals: dict[str, str]
    extensions: dict[tuple[str, str], list[Step]]
    references: dict[str, str]  # "[Tag]" → documentation URL

    def steps(self) -> Iterator[Step]:
        for steps in self.extensions.values():
            yield from steps

    def extension(self, context: str, exten: str) -> list[Step]:
        steps = self.extensions.get((context, exten))
        assert steps, f"extensions.conf has no extension {exten}@{context}"
        return steps

    def priority_of(self, context: str, exten: str, target: str) -> int:
        if target.isdigit():
            return int(target)
        labelled = [s.priority for s in self.extension(context, exten) if s.label == target]
        assert labelled, f"no label {target!r} in {exten}@{context}"
        return labelled[0]


_STEP_RE = re.compile(r"^(exten|same)\s*=>?\s*(.+)$")
_PRIORITY_RE = re.compile(r"^(\d+|n)(?:\(([A-Za-z0-9_-]+)\))?$")
_REFERENCE_RE = re.compile(r"^;\s+\[([A-Za-z_.]+)\]\s+(https://\S+)\s*$")


def _split_comment(line: str) -> tuple[str, str]:
    """';' starts a comment unless escaped with a backslash (main/config.c)."""
    start = 0
    while (at := line.find(";", start)) >= 0:
        if at and line[at - 1] == "\\":
            start = at + 1
            continue
        return line[:at], line[at + 1 :]
    return line, ""


@cache
def load_dialplan(path: Path = EXAMPLE) -> Dialplan:
    context: str | None = None
    plan = Dialplan(globals={}, extensions={}, references={})
    comments: list[str] = []
    last: tuple[str, str] | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if ref := _REFERENCE_RE.match(raw):
            plan.references[ref[1]] = ref[2]
        code, comment = _split_comment(raw)
        code = code.strip()
        if not code:
            if comment:
                comments.append(comment)
            else:
                comments.clear()  # a blank line ends a block of comments
            continue
        if code.startswith("["):
            context = code[1 : code.index("]")]
            comments.clear()
            continue
        assert context is not None, f"line {number}: outside any context"
        if context == "globals":
            name, _, value = code.partition("=")
            plan.globals[name.strip()] = value.strip()
            comments.clear()
            continue
        m = _STEP_RE.match(code)
        assert m, f"line {number}: not a dialplan line: {code!r}"
        if m[1] == "exten":
            exten, priority_text, application = m[2].split(",", 2)
            exten = exten.strip()
        else:
            assert last is not None and last[0] == context, f"line {number}: 'same' without an exten"
            exten = last[1]
            priority_text, application = m[2].split(",", 1)
        steps = plan.extensions.setdefault((context, exten), [])
        pm = _PRIORITY_RE.match(priority_text.strip())
        assert pm, f"line {number}: bad priority {priority_text!r}"
        priority = steps[-1].priority + 1 if pm[1] == "n" else int(pm[1])
        application = application.strip()
        opening = application.find("(")
        assert opening > 0 and application.endswith(")"), f"line {number}: App(args) expected"
        steps.append(
            Step(
                context=context,
                exten=exten,
                priority=priority,
                label=pm[2],
                app=application[:opening],
                data=application[opening + 1 : -1],
                line=number,
                comment=" ".join([*comments, comment]),
            )
        )
        comments.clear()
        last = (context, exten)
    return plan


def separate_args(buf: str, delim: str = ",", remove_chars: bool = True, limit: int = 0) -> list[str]:
    """main/app.c __ast_app_separate_args: split on ``delim`` outside (), [] and double quotes; with
    ``remove_chars`` quotes are dropped and a backslash makes the next character literal. With a
    ``limit``, the last argument keeps the rest of the string, unsplit."""
    if not buf:
        return []
    args: list[str] = []
    current: list[str] = []
    paren = bracket = 0
    quote_open = False
    i = 0
    while i < len(buf):
        if limit and len(args) == limit - 1 and not current:
            current.append(buf[i:])
            break
        c = buf[i]
        if c == "(":
            paren += 1
        elif c == ")":
            paren = max(0, paren - 1)
        elif c == "[":
            bracket += 1
        elif c == "]":
            bracket = max(0, bracket - 1)
        elif c == '"' and delim != '"':
            quote_open = not quote_open
            if remove_chars:
                i += 1
                continue
        elif c == "\\":
            if remove_chars:
                i += 1  # the backslash goes, the next character is kept as it is
                if i < len(buf):
                    current.append(buf[i])
                i += 1
                continue
            current.append(c)
            i += 1
            if i < len(buf):
                current.append(buf[i])
            i += 1
            continue
        elif c == delim and not paren and not quote_open and not bracket:
            args.append("".join(current))
            current = []
            i += 1
            continue
        current.append(c)
        i += 1
    args.append("".join(current))
    return args


def _matching(text: str, start: int, opening: str, closing: str) -> int:
    """The index of the bracket closing the one opened just before ``start`` (main/pbx_variables.c
    counts every opening bracket of the same kind, whether or not a '$' precedes it)."""
    depth = 1
    i = start
    while i < len(text):
        if text[i] == opening:
            depth += 1
        elif text[i] == closing:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise AssertionError(f"unbalanced {opening}{closing} in {text!r}")


def references_in(data: str) -> tuple[set[str], set[str]]:
    """The functions and the variables a line's data reads: ``${NAME(…)}`` and ``${NAME}``."""
    functions = set(re.findall(r"\$\{([A-Z_]+)\(", data))
    variables = set(re.findall(r"\$\{([A-Za-z_~][A-Za-z0-9_~]*)\}", data))
    return functions, variables


def written_functions(step: Step) -> set[str]:
    """Functions written by Set(FUNC(…)=…), also inside ExecIf(…?Set(FUNC(…)=…))."""
    return set(re.findall(r"Set\(([A-Z_]+)\(", f"{step.app}({step.data})"))


# ---- a small Asterisk: just what the example uses ------------------------------------------------


class CallEnded(Exception):
    """The caller's channel hung up: the dialplan stops and the hangup handlers run."""


class Returned(Exception):
    """Return() of a subroutine (a hangup handler)."""


@dataclass
class Exchange:
    """One CURL(): what was sent and what came back (CURL() itself sees only the body)."""

    url: str
    body: str | None
    authorization: str | None
    content_type: str | None
    status: int | None = None  # None: the service could not be reached
    answer: str = ""

    @property
    def fields(self) -> dict[str, str]:
        assert self.body is not None
        return {k: v[0] for k, v in parse_qs(self.body, keep_blank_values=True).items()}

    @property
    def path(self) -> str:
        return urlsplit(self.url).path


@dataclass
class HashRead:
    section: str  # the label of the dialplan section that read it (dial, wait, transfer, queue, ask)
    key: str
    present: bool
    action: str  # the action of the answer in the hash when it was read
    status: int | None  # the HTTP status of that answer


@dataclass
class Channel:
    name: str
    uniqueid: str
    linkedid: str
    caller: str
    cdr: dict[str, str]
    language: str = "en"
    variables: dict[str, str] = field(default_factory=dict)
    hashes: dict[str, dict[str, str]] = field(default_factory=dict)
    curlopts: dict[str, str] = field(default_factory=dict)
    iax_in: dict[str, str] = field(default_factory=dict)  # IAXVAR()s received in the IAX2 call setup
    iax_out: dict[str, str] = field(default_factory=dict)  # IAXVAR()s sent with a Dial(IAX2/…)
    hangup_handlers: list[str] = field(default_factory=list)
    answered: bool = False


DialFn = Callable[["Pbx", str, int | None], Awaitable[str]]


async def _hold_on(pbx: Pbx, seconds: int) -> bool:
    return True


async def _queue_times_out(pbx: Pbx, queue: str) -> str:
    return "TIMEOUT"


async def _nobody_answers(pbx: Pbx, target: str, ring_seconds: int | None) -> str:
    return "NOANSWER"


@dataclass
class Caller:
    """What happens around the dialplan: the caller's keys, the dialled parties, the queue."""

    keys: list[str] = field(default_factory=list)  # one per Read(); "" = no key before the timeout
    dial: DialFn = _nobody_answers  # → DIALSTATUS (ANSWER: the conversation took place)
    hold: Callable[[Pbx, int], Awaitable[bool]] = _hold_on  # False: the caller hangs up on hold
    queue: Callable[[Pbx, str], Awaitable[str]] = _queue_times_out  # → QUEUESTATUS


def _truthy(value: str) -> bool:  # main/utils.c ast_true
    return value.strip().lower() in {"yes", "true", "y", "t", "1", "on"}


def check_condition(condition: str) -> bool:
    """main/pbx.c pbx_checkcondition: empty is false, a leading integer is its value, else true."""
    if not condition:
        return False
    m = re.match(r"\s*[-+]?\d+", condition)
    return int(m[0]) != 0 if m else True


def _escape_commas(value: str) -> str:  # main/strings.c ast_str_set_escapecommas
    return value.replace("\\", "\\\\").replace(",", "\\,")


class Pbx:
    """One channel running the example dialplan."""

    def __init__(
        self,
        plan: Dialplan,
        globals_: Mapping[str, str],
        channel: Channel,
        http: httpx.AsyncClient,
        caller: Caller,
    ) -> None:
        self.plan = plan
        self.globals = dict(globals_)
        self.channel = channel
        self.http = http
        self.caller = caller
        self.log: list[tuple[str, str]] = []  # (application, its arguments as it ran them)
        self.exchanges: list[Exchange] = []
        self.hash_reads: list[HashRead] = []
        self.step: Step | None = None
        self.last_route_status: int | None = None

    # -- running

    async def call(self, context: str, exten: str) -> None:
        """The call arrives at exten@context; returns when it has ended and its handlers have run."""
        with contextlib.suppress(CallEnded):
            await self._run(context, exten, 1)
        for handler in reversed(self.channel.hangup_handlers):  # the latest pushed runs first
            ctx, ext, prio = separate_args(handler)
            with pytest.raises(Returned):
                await self._run(ctx, ext, self.plan.priority_of(ctx, ext, prio))

    async def _run(self, context: str, exten: str, priority: int) -> None:
        for _ in range(2000):
            steps = self.plan.extension(context, exten)
            step = next((s for s in steps if s.priority == priority), None)
            if step is None:
                raise CallEnded  # the extension ran out of priorities: Asterisk hangs up
            self.step = step
            data = await self.substitute(step.data)
            jump = await self.execute(step.app, data)
            if jump is None:
                priority += 1
            else:
                context, exten, priority = jump
        raise AssertionError("the dialplan loops")

    def _goto(self, spec: str) -> tuple[str, str, int]:
        assert self.step is not None
        parts = separate_args(spec)
        context, exten = self.step.context, self.step.exten
        if len(parts) == 3:
            context, exten, target = parts
        elif len(parts) == 2:
            exten, target = parts
        else:
            (target,) = parts
        return context, exten, self.plan.priority_of(context, exten, target)

    async def execute(self, app: str, data: str) -> tuple[str, str, int] | None:
        self.log.append((app, data))
        args = separate_args(data)
        if app == "Set":
            name, _, value = data.partition("=")
            await self.write(name, value)
        elif app == "NoOp":
            pass
        elif app == "Answer":
            self.channel.answered = True
        elif app == "Goto":
            return self._goto(data)
        elif app == "GotoIf":  # main/pbx_builtins.c: strsep on '?' then ':'
            condition, _, branches = data.partition("?")
            if_true, _, if_false = branches.partition(":")
            branch = if_true if check_condition(condition) else if_false
            return self._goto(branch) if branch else None
        elif app == "ExecIf":  # apps/app_exec.c, the "preferred" syntax
            comma, question = data.find(","), data.find("?")
            assert question >= 0 and not 0 <= comma < question, f"deprecated ExecIf syntax: {data!r}"
            condition, rest = separate_args(data, "?", remove_chars=False, limit=2)
            apps = [*separate_args(rest, ":", remove_chars=False, limit=2), ""]
            chosen = apps[0] if check_condition(condition) else apps[1]
            if chosen:
                name, _, inner = chosen.partition("(")
                return await self.execute(name, inner[: inner.rfind(")")] if ")" in inner else inner)
        elif app == "Read":
            variable = args[0]
            key = self.caller.keys.pop(0) if self.caller.keys else ""
            self.channel.variables[variable] = key
            self.channel.variables["READSTATUS"] = "OK" if key else "TIMEOUT"
        elif app == "Playback":
            pass
        elif app == "MusicOnHold":
            duration = args[1] if len(args) > 1 else ""
            assert duration.isdigit(), "MusicOnHold() without a duration plays for ever"
            if not await self.caller.hold(self, int(duration)):
                raise CallEnded
        elif app == "Dial":
            target = args[0]
            timeout = int(args[1]) if len(args) > 1 and args[1] else None
            options = args[2] if len(args) > 2 else ""
            status = await self.caller.dial(self, target, timeout)
            self.channel.variables["DIALSTATUS"] = status
            if status == "ANSWER":
                # Dial() sets these on the caller's channel when the callee answered
                self.channel.variables["DIALEDPEERNAME"] = (
                    self.channel.cdr.get("dstchannel") or f"{target}-0000012b"
                )
                self.channel.variables["ANSWEREDTIME"] = "95"
            if status == "CANCEL" or (status == "ANSWER" and "g" not in options):
                raise CallEnded  # the caller hung up, or the conversation is over
        elif app == "Queue":
            status = await self.caller.queue(self, args[0])
            if status in {"ANSWER", "HANGUP"}:
                raise CallEnded
            self.channel.variables["QUEUESTATUS"] = status
        elif app == "Hangup":
            raise CallEnded
        elif app == "Return":
            raise Returned
        elif app == "ClearHash":
            self.channel.hashes.pop(args[0], None)
        else:
            raise AssertionError(f"the example uses {app}(), which this test does not model")
        return None

    # -- variables and functions

    def section(self) -> str:
        assert self.step is not None
        labels = [
            s.label
            for s in self.plan.extension(self.step.context, self.step.exten)
            if s.label and s.priority <= self.step.priority
        ]
        return labels[-1] if labels else self.step.exten

    def variable(self, name: str) -> str:
        assert self.step is not None
        builtin = {
            "EXTEN": self.step.exten,
            "CONTEXT": self.step.context,
            "UNIQUEID": self.channel.uniqueid,
            "EPOCH": str(int(datetime.now(UTC).timestamp())),
        }
        if name in builtin:
            return builtin[name]
        if name in self.channel.variables:
            return self.channel.variables[name]
        return self.globals.get(name, "")

    async def write(self, name: str, value: str) -> None:
        m = re.fullmatch(r"([A-Z_]+)\((.*)\)", name, re.S)
        if m is None:
            # _X and __X are inherited by channels this one creates; all read as ${X}
            self.channel.variables[name.lstrip("_")] = value
            return
        function, argument = m[1], m[2]
        if function == "HASH":
            if "," in argument:
                hashname, key = separate_args(argument)
                self.channel.hashes.setdefault(hashname, {})[key] = value
                return
            # Set(HASH(name)=…) reads the keys from ~ODBCFIELDS~, left by CURL() with hashcompat
            # (funcs/func_strings.c array()); missing values are set empty
            fields_ = self.channel.variables.get("~ODBCFIELDS~")
            if fields_ is None:
                return  # Asterisk logs an error and sets nothing
            values = separate_args(value)
            target = self.channel.hashes.setdefault(argument, {})
            for i, key in enumerate(separate_args(fields_)):
                target[key] = values[i] if i < len(values) else ""
        elif function == "CURLOPT":
            assert argument in CURLOPT_KEYS, f"CURLOPT({argument}) is not an option of CURLOPT()"
            self.channel.curlopts[argument] = value
        elif function == "CHANNEL":
            if argument == "language":
                self.channel.language = value
            elif argument == "hangup_handler_push":
                self.channel.hangup_handlers.append(value)
            else:
                raise AssertionError(f"CHANNEL({argument}) is not modelled")
        elif function == "CDR":
            assert argument == "userfield", f"CDR({argument}) is read-only or not modelled"
            self.channel.cdr[argument] = value
        elif function == "IAXVAR":
            self.channel.iax_out[argument] = value
        else:
            raise AssertionError(f"the example writes {function}(), which this test does not model")

    async def function(self, name: str, argument: str) -> str:
        if name == "CURL":
            return await self.curl(argument)
        if name == "HASH":
            hashname, key = separate_args(argument)
            contents = self.channel.hashes.get(hashname, {})
            if hashname == "route":
                self.hash_reads.append(
                    HashRead(
                        section=self.section(),
                        key=key,
                        present=key in contents,
                        action=contents.get("action", ""),
                        status=self.last_route_status,
                    )
                )
            return contents.get(key, "")
        if name == "URIENCODE":  # ast_uri_encode, ast_uri_http: only RFC 3986 unreserved characters stay
            return quote(argument, safe="")
        if name == "CHANNEL":
            values = {
                "linkedid": self.channel.linkedid,
                "uniqueid": self.channel.uniqueid,
                "name": self.channel.name,
                "language": self.channel.language,
            }
            assert argument in values, f"CHANNEL({argument}) is not modelled"
            return values[argument]
        if name == "CALLERID":
            assert argument == "num", f"CALLERID({argument}) is not modelled"
            return self.channel.caller
        if name == "CDR":
            cdr_field = separate_args(argument)[0]
            assert cdr_field in CDR_FIELDS, f"CDR({cdr_field}) is not a CDR field"
            return self.channel.cdr.get(cdr_field, "")
        if name == "IAXVAR":
            return self.channel.iax_in.get(argument, "")
        if name == "STRFTIME":
            epoch, zone, fmt = [*separate_args(argument, limit=3), "", "", ""][:3]
            moment = datetime.fromtimestamp(float(epoch), ZoneInfo(zone) if zone else PBX_TZ)
            return moment.strftime(fmt or "%c")
        if name == "IF":  # funcs/func_logic.c: condition?true:false
            condition, rest = [*separate_args(argument, "?", limit=2), ""][:2]
            if_true, if_false = [*separate_args(rest, ":", limit=2), "", ""][:2]
            return if_true if check_condition(condition) else if_false
        raise AssertionError(f"the example reads {name}(), which this test does not model")

    async def curl(self, argument: str) -> str:
        """funcs/func_curl.c: POST when there is post-data (libcurl sends it as
        application/x-www-form-urlencoded and, with CURLOPT(userpwd), Basic credentials from the
        first request); the body comes back trimmed; with hashcompat, ``key=value&…`` becomes the
        values joined by commas, the keys left in ~ODBCFIELDS~ for Set(HASH(name)=…)."""
        url, *rest = separate_args(argument, limit=2)
        postdata = rest[0] if rest else None
        options = self.channel.curlopts
        headers = {"User-Agent": "asterisk-libcurl-agent/1.0"}
        if "userpwd" in options:
            headers["Authorization"] = "Basic " + base64.b64encode(options["userpwd"].encode()).decode()
        if postdata is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        exchange = Exchange(
            url=url,
            body=postdata,
            authorization=headers.get("Authorization"),
            content_type=headers.get("Content-Type"),
        )
        self.exchanges.append(exchange)
        timeout = httpx.Timeout(
            float(options.get("httptimeout", "180")), connect=float(options.get("conntimeout", "300"))
        )
        try:
            if postdata is None:
                response = await self.http.get(url, headers=headers, timeout=timeout)
            else:
                response = await self.http.post(
                    url, content=postdata.encode(), headers=headers, timeout=timeout
                )
        except httpx.TransportError:
            body = ""
        else:
            exchange.status = response.status_code
            body = response.text
        if urlsplit(url).path.endswith("/route"):
            self.last_route_status = exchange.status
        body = body.rstrip()
        exchange.answer = body
        if not body:
            return ""  # CURL() fails: nothing read, ~ODBCFIELDS~ left as it was
        mode = options.get("hashcompat", "no")
        if mode.lower() != "legacy" and not _truthy(mode):
            return body
        decode = unquote_plus if mode.lower() == "legacy" else unquote
        keys, values = [], []
        for piece in body.split("&"):
            key, equals, value = piece.partition("=")
            keys.append(_escape_commas(decode(key)))
            values.append(_escape_commas(decode(value) if equals else ""))
        self.channel.variables["~ODBCFIELDS~"] = ",".join(keys)
        return ",".join(values)

    async def substitute(self, text_: str) -> str:
        """main/pbx_variables.c: ${…} and $[…], the inside first."""
        out: list[str] = []
        i = 0
        while i < len(text_):
            if text_.startswith("${", i):
                end = _matching(text_, i + 2, "{", "}")
                inner = await self.substitute(text_[i + 2 : end])
                if inner.endswith(")") and "(" in inner:
                    name, _, argument = inner.partition("(")
                    out.append(await self.function(name, argument[:-1]))
                else:
                    out.append(self.variable(inner))
                i = end + 1
            elif text_.startswith("$[", i):
                end = _matching(text_, i + 2, "[", "]")
                out.append(expression(await self.substitute(text_[i + 2 : end])))
                i = end + 1
            else:
                out.append(text_[i])
                i += 1
        return "".join(out)

    # -- what the tests look at

    def ran(self, app: str) -> list[str]:
        return [data for a, data in self.log if a == app]

    def route_exchanges(self) -> list[Exchange]:
        return [e for e in self.exchanges if e.path.endswith("/route")]

    def cdr_exchanges(self) -> list[Exchange]:
        return [e for e in self.exchanges if e.path.endswith("/cdr")]


# Asterisk expressions (main/ast_expr2.y): | & comparisons + - * / %, quotes stripped from strings,
# numbers compared as numbers
_TOKEN_RE = re.compile(r'\s*(?:"([^"]*)"|(!=|<=|>=|==|[|&=<>+\-*/%()])|([^\s|&=<>+\-*/%()"!]+))')


def expression(source: str) -> str:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(source.rstrip()):
        m = _TOKEN_RE.match(source, position)
        assert m and m.end() > position, f"cannot read the expression {source!r}"
        if m[2] is not None:
            tokens.append(("op", m[2]))
        else:
            tokens.append(("value", m[1] if m[1] is not None else m[3]))
        position = m.end()
    tokens.append(("end", ""))
    result, rest = _parse_or(tokens)
    assert rest[0][0] == "end", f"cannot read the expression {source!r}"
    return result


_Tokens = list[tuple[str, str]]


def _number(value: str) -> float | None:
    return float(value) if re.fullmatch(r"-?\d+(\.\d+)?", value.strip()) else None


def _text(number: float) -> str:
    return str(int(number)) if number == int(number) else str(number)


def _parse_or(tokens: _Tokens) -> tuple[str, _Tokens]:
    left, tokens = _parse_and(tokens)
    while tokens[0] == ("op", "|"):
        right, tokens = _parse_and(tokens[1:])
        left = left if check_condition(left) else right
    return left, tokens


def _parse_and(tokens: _Tokens) -> tuple[str, _Tokens]:
    left, tokens = _parse_comparison(tokens)
    while tokens[0] == ("op", "&"):
        right, tokens = _parse_comparison(tokens[1:])
        left = left if check_condition(left) and check_condition(right) else "0"
    return left, tokens


def _parse_comparison(tokens: _Tokens) -> tuple[str, _Tokens]:
    left, tokens = _parse_sum(tokens)
    while tokens[0][0] == "op" and tokens[0][1] in {"=", "==", "!=", "<", ">", "<=", ">="}:
        op = tokens[0][1]
        right, tokens = _parse_sum(tokens[1:])
        a, b = _number(left), _number(right)
        pair: tuple[Any, Any] = (a, b) if a is not None and b is not None else (left, right)
        outcome = {
            "=": pair[0] == pair[1],
            "==": pair[0] == pair[1],
            "!=": pair[0] != pair[1],
            "<": pair[0] < pair[1],
            ">": pair[0] > pair[1],
            "<=": pair[0] <= pair[1],
            ">=": pair[0] >= pair[1],
        }[op]
        left = "1" if outcome else "0"
    return left, tokens


def _parse_sum(tokens: _Tokens) -> tuple[str, _Tokens]:
    left, tokens = _parse_product(tokens)
    while tokens[0] in {("op", "+"), ("op", "-")}:
        op = tokens[0][1]
        right, tokens = _parse_product(tokens[1:])
        a, b = _number(left), _number(right)
        assert a is not None and b is not None, f"{left!r} {op} {right!r} is not arithmetic"
        left = _text(a + b if op == "+" else a - b)
    return left, tokens


def _parse_product(tokens: _Tokens) -> tuple[str, _Tokens]:
    left, tokens = _parse_atom(tokens)
    while tokens[0] in {("op", "*"), ("op", "/"), ("op", "%")}:
        op = tokens[0][1]
        right, tokens = _parse_atom(tokens[1:])
        a, b = _number(left), _number(right)
        assert a is not None and b is not None, f"{left!r} {op} {right!r} is not arithmetic"
        left = _text(a * b if op == "*" else (a / b if op == "/" else a % b))
    return left, tokens


def _parse_atom(tokens: _Tokens) -> tuple[str, _Tokens]:
    kind, value = tokens[0]
    if (kind, value) == ("op", "("):
        inner, rest = _parse_or(tokens[1:])
        assert rest[0] == ("op", ")"), "unbalanced parenthesis in an expression"
        return inner, rest[1:]
    assert kind == "value", f"an operand was expected, not {value!r}"
    return value, tokens[1:]


# ---- the example as a whole ---------------------------------------------------------------------


def curl_calls(plan: Dialplan) -> list[tuple[Step, str, str]]:
    """Every CURL(url,post-data) of the file, as written: (step, url, post-data)."""
    calls = []
    for step in plan.steps():
        for m in re.finditer(r"\$\{CURL\(", step.data):
            end = _matching(step.data, m.end(), "{", "}")
            inside = step.data[m.end() : end - 1]  # without the closing parenthesis
            url, data = [*separate_args(inside, limit=2), ""][:2]
            calls.append((step, url, data))
    return calls


def posted_fields(plan: Dialplan, step: Step, data: str) -> list[str]:
    """The field names of a post-data built in a variable by Set(VAR=…) lines of the same extension."""
    m = re.fullmatch(r"\$\{([A-Z_]+)\}", data)
    assert m, f"line {step.line}: the post-data should be built in a variable, not {data!r}"
    names: list[str] = []
    for s in plan.extension(step.context, step.exten):
        if s.app == "Set" and s.data.startswith(f"{m[1]}="):
            value = s.data[len(m[1]) + 1 :].removeprefix(f"${{{m[1]}}}")
            names += re.findall(r"(?:^|&)([A-Za-z_]+)=", value)
    return names


def globals_for(plan: Dialplan, switchboard: str, url: str, secret: str) -> dict[str, str]:
    """[globals] as the README says to edit them on a switchboard."""
    values = dict(plan.globals)
    values.update(HOTLINE_URL=url, HOTLINE_SB=switchboard, HOTLINE_SECRET=secret)
    return values


class _AskedDict(dict[str, Any]):
    """A dict that remembers which keys were looked up with get() (and still serialises as JSON)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__(data)
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)


def route_fields_read() -> set[str]:
    """The request fields engine.parse_request looks at."""
    asked = _AskedDict({"linkedid": "1748744102.1042"})
    engine.parse_request(asked, {})
    return asked.asked


def cdr_fields_read(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The CDR fields parsing.parse_cdr looks at."""
    seen: list[_AskedDict] = []

    def lower_keys(obj: Mapping[str, Any]) -> _AskedDict:
        asked = _AskedDict({str(k).lower(): v for k, v in obj.items()})
        seen.append(asked)
        return asked

    monkeypatch.setattr(parsing, "_lower_keys", lower_keys)
    record = {"linkedid": "1748744102.1042", "uniqueid": "1748744102.1042", "start": "2025-06-01 09:15:02"}
    parsing.parse_cdr(record, b"", 0, PBX_TZ)
    return seen[0].asked


def served_by(app: FastAPI, path: str) -> tuple[str, dict[str, str]] | None:
    """The service's POST operation for a concrete path, from its OpenAPI description: the path
    template and the path parameters (the most specific template wins, as routing does here)."""
    found = []
    for template, operations in app.openapi()["paths"].items():
        if "post" not in operations:
            continue
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        if m := re.fullmatch(pattern, path):
            found.append((template, m.groupdict()))
    return min(found, key=lambda f: len(f[1])) if found else None


# ---- reading the example ------------------------------------------------------------------------


def test_the_example_is_a_complete_dialplan_for_hanoi() -> None:
    plan = load_dialplan()
    assert plan.globals["HOTLINE_SB"] == "hanoi"
    assert plan.globals["HOTLINE_URL"].startswith("https://")
    assert not plan.globals["HOTLINE_URL"].endswith("/")
    assert plan.globals["HOTLINE_SECRET"]
    for context in ("hotline", "hotline-trunk-in"):
        for exten in ("111", "18001567"):
            assert plan.extension(context, exten)
    assert plan.extension("hotline-hangup", "s")[-1].app == "Return"
    # the handler is pushed on the caller's channel both where calls enter
    pushes = [s for s in plan.steps() if "hangup_handler_push" in s.data]
    assert {s.context for s in pushes} == {"hotline", "hotline-trunk-in"}
    assert all(s.data.endswith("=hotline-hangup,s,1") for s in pushes)
    # Vietnamese first: the first prompt says it in Vietnamese, with its diacritics
    first_read = next(s for s in plan.steps() if s.app == "Read")
    assert "Đường dây nóng" in first_read.comment and "Tiếng Việt" in first_read.comment


def test_every_curl_posts_to_an_endpoint_the_service_serves(app: FastAPI) -> None:
    plan = load_dialplan()
    calls = curl_calls(plan)
    assert {step.context for step, _, _ in calls} == {"hotline", "hotline-hangup"}
    templates = set()
    for step, url_template, data in calls:
        assert data, f"line {step.line}: CURL() without post-data would be a GET"
        assert url_template.startswith("${HOTLINE_URL}/webhooks/asterisk/${HOTLINE_SB}/"), url_template
        url = url_template.replace("${HOTLINE_URL}", plan.globals["HOTLINE_URL"])
        path = urlsplit(url.replace("${HOTLINE_SB}", plan.globals["HOTLINE_SB"])).path
        served = served_by(app, path)
        assert served, f"line {step.line}: the service serves no POST {path}"
        template, params = served
        assert params["switchboard"] == "hanoi"
        if "source" in params:
            assert params["source"] in parsing.SOURCES, f"line {step.line}: {path}"
        templates.add((template, params.get("source")))
    assert templates == {
        ("/webhooks/asterisk/{switchboard}/route", None),
        ("/webhooks/asterisk/{switchboard}/{source}", "cdr"),
    }


def test_the_route_request_carries_every_field_the_service_reads() -> None:
    plan = load_dialplan()
    ((step, _, data),) = [c for c in curl_calls(plan) if c[1].endswith("/route")]
    sent = posted_fields(plan, step, data)
    assert len(sent) == len(set(sent)), f"a field is sent twice: {sent}"
    accepted = route_fields_read()
    assert accepted == {f.name for f in dataclasses.fields(engine.RouteRequest)}
    assert set(sent) <= accepted, f"the service does not read {set(sent) - accepted}"
    assert set(sent) >= ROUTE_MANDATORY
    assert set(sent) == accepted, f"the example does not carry {accepted - set(sent)}"


def test_the_cdr_post_sends_asterisk_fields_the_service_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = load_dialplan()
    ((step, _, data),) = [c for c in curl_calls(plan) if c[1].endswith("/cdr")]
    sent = set(posted_fields(plan, step, data))
    read = cdr_fields_read(monkeypatch)
    # PRODUCT.md §1's list, and what the service needs to place and date the record
    assert {"src", "dst", "start", "answer", "end", "duration", "billsec", "disposition"} <= sent
    assert {"uniqueid", "linkedid", "start"} <= sent & read
    # every field is one the service reads or one of Asterisk's own CDR fields (kept in the raw record)
    assert sent <= read | CDR_FIELDS, sent - (read | CDR_FIELDS)
    # and every CDR(…) the handler reads is a field of Asterisk's CDR() function
    for s in plan.extension("hotline-hangup", "s"):
        for name in re.findall(r"\$\{CDR\(([a-z]+)", s.data):
            assert name in CDR_FIELDS, f"line {s.line}: CDR({name})"


def test_every_hash_key_read_is_a_key_of_the_answers() -> None:
    plan = load_dialplan()
    answer_keys = {f.name for f in dataclasses.fields(engine.Answer)}
    reads = [(s, key) for s in plan.steps() for key in re.findall(r"\$\{HASH\(route,([a-z_]+)\)\}", s.data)]
    assert reads
    for step, key in reads:
        assert key in answer_keys, f"line {step.line}: HASH(route,{key}) is never in an answer"


def test_each_action_has_its_branch() -> None:
    plan = load_dialplan()
    route = plan.extension("hotline", "route")
    labels = {s.label: s for s in route if s.label}
    assert set(ACTIONS) | {"ask"} <= set(labels)
    for action in ("dial", "wait", "transfer"):
        tests = [
            s for s in route if s.app == "GotoIf" and f'"${{HASH(route,action)}}" = "{action}"' in s.data
        ]
        assert len(tests) == 1 and tests[0].data.endswith(f"?{action}"), action
    # anything else — "queue", an error, or no answer at all — falls through to the queue
    last_test = max(s.priority for s in route if s.app == "GotoIf" and "HASH(route,action)" in s.data)
    fallthrough = next(s for s in route if s.priority == last_test + 1)
    assert (fallthrough.app, fallthrough.data) == ("Goto", "queue")
    assert labels["dial"].app == "Dial" and labels["queue"].app == "Set"
    assert any(s.app == "Queue" and s.priority > labels["queue"].priority for s in route)


def test_every_feature_cites_its_documentation() -> None:
    plan = load_dialplan()
    refs = plan.references
    for tag, url in refs.items():
        assert url.startswith("https://docs.asterisk.org/"), (tag, url)
    apps = {s.app for s in plan.steps()} | {
        name for s in plan.steps() for name in re.findall(r"\?([A-Z][A-Za-z]+)\(", s.data)
    }
    functions = {f for s in plan.steps() for f in references_in(s.data)[0] | written_functions(s)}
    for app in apps:
        assert refs.get(app, "").endswith(f"/Dialplan_Applications/{app}/"), f"no page cited for {app}()"
    for function in functions:
        assert refs.get(function, "").endswith(f"/Dialplan_Functions/{function}/"), (
            f"no page for {function}()"
        )
    for step in plan.steps():
        used, variables = references_in(step.data)
        needed = used | written_functions(step)
        if step.app not in UNTAGGED_APPS:
            needed.add(step.app)
        if "$[" in step.data:
            needed.add("Expressions")
        if variables & BUILTIN_VARIABLES:
            needed.add("Variables")
        if "hangup_handler_push" in step.data:
            needed.add("HangupHandlers")
        if re.search(r"Set\(__|^__", step.data):
            needed.add("Inheritance")
        missing = {tag for tag in needed if f"[{tag}]" not in step.comment}
        assert not missing, f"line {step.line} ({step.app}) does not cite {sorted(missing)}"
    for tag in ("Expressions", "Variables", "HangupHandlers", "Inheritance", "Globals"):
        assert tag in refs


# ---- playing the dialogue against the service ---------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_routing_cache() -> Iterator[None]:
    engine.clear_cache()
    yield
    engine.clear_cache()


def _cdr(channel_name: str, caller: str, *, ended: bool = True) -> dict[str, str]:
    """The CDR of a call that started two minutes ago, as CDR() shows it: PBX local time."""
    start = datetime.now(PBX_TZ).replace(microsecond=0) - timedelta(minutes=2)
    end = datetime.now(PBX_TZ).replace(microsecond=0)
    fmt = "%Y-%m-%d %H:%M:%S"
    return {
        "src": caller,
        "dst": "route",  # the last extension the channel ran: not the number dialled
        "channel": channel_name,
        "start": start.strftime(fmt),
        "answer": (start + timedelta(seconds=2)).strftime(fmt),
        "end": end.strftime(fmt) if ended else "",
        "duration": str(int((end - start).total_seconds())) if ended else "",
        "billsec": str(int((end - start).total_seconds()) - 2) if ended else "",
        "disposition": "ANSWERED",
        "dstchannel": "",
        "userfield": "",
    }


def _channel(
    caller: str, linkedid: str, name: str = "PJSIP/viettel-0000012a", *, ended: bool = True
) -> Channel:
    return Channel(
        name=name, uniqueid=linkedid, linkedid=linkedid, caller=caller, cdr=_cdr(name, caller, ended=ended)
    )


async def _answered(pbx: Pbx, target: str, ring_seconds: int | None) -> str:
    pbx.channel.cdr["dstchannel"] = f"{target}-0000012b"
    return "ANSWER"


def _answer(exchange: Exchange) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(exchange.answer).items()}


def _assert_reads_are_carried(pbx: Pbx) -> None:
    """Every HASH(route,k) read in the branch of the answer's own action found k in the answer: the
    service's decisions (200) carry every key their branch reads; only an answer given because the
    service could not decide (4xx, 5xx) or no answer at all may lack one, which the dialplan defaults."""
    assert pbx.hash_reads
    for read in pbx.hash_reads:
        if read.status == 200 and (read.section == read.action or read.key in {"action", "reason"}):
            assert read.present, f"the {read.action} branch reads {read.key}, which the answer lacks"


async def _cdr_stored(session: AsyncSession, switchboard: str, exchange: Exchange) -> WebhookEvent:
    assert exchange.status == 200, exchange.answer
    assert json.loads(exchange.answer) == {"received": 1, "stored": 1, "duplicates": 0}
    event = await session.scalar(
        select(WebhookEvent).where(
            WebhookEvent.switchboard_code == switchboard,
            WebhookEvent.source == "cdr",
            WebhookEvent.linkedid == exchange.fields["linkedid"],
        )
    )
    assert event is not None and event.call_id is not None
    return event


async def test_dial_a_counsellor_then_the_next_when_the_first_does_not_answer(
    client: httpx.AsyncClient, session: AsyncSession, server_url: str
) -> None:
    await open_all_day(session)
    secret = await switchboard_secret(session, "hanoi")
    lan = await counsellor(session, extension="PJSIP/1012")
    await counsellor(session, extension="PJSIP/1013", idle_since=datetime.now(UTC) + timedelta(seconds=5))
    plan = load_dialplan()
    lk = new_linkedid()
    rang: list[tuple[str, int | None]] = []

    async def first_does_not_answer(pbx: Pbx, target: str, ring_seconds: int | None) -> str:
        rang.append((target, ring_seconds))
        return "NOANSWER" if target == "PJSIP/1012" else await _answered(pbx, target, ring_seconds)

    pbx = Pbx(
        plan,
        globals_for(plan, "hanoi", server_url, secret),
        _channel("+84912345678", lk),
        client,
        Caller(keys=["1", "1"], dial=first_does_not_answer),  # Tiếng Việt, miền Bắc
    )
    await pbx.call("hotline", "111")

    first, second = pbx.route_exchanges()
    assert first.url == f"{server_url}/webhooks/asterisk/hanoi/route"
    assert first.authorization == basic_auth("hanoi", secret)["Authorization"]
    assert first.content_type == "application/x-www-form-urlencoded"
    assert first.body is not None and "caller=%2B84912345678" in first.body  # "+" travels as %2B
    assert first.fields == {
        "linkedid": lk,
        "uniqueid": lk,
        "exten": "111",
        "attempt": "1",
        "caller": "+84912345678",
        "ivr_region": "north",
        "ivr_province": "",
        "ivr_language": "vi",
        "ivr_emergency": "",
        "previous_target": "",
        "origin": "",
    }
    assert first.status == 200 and _answer(first) == {
        "action": "dial",
        "target": "PJSIP/1012",
        "timeout": "20",
        "priority": "0",
        "reason": "longest_idle",
    }
    assert second.fields["attempt"] == "2" and second.fields["previous_target"] == "PJSIP/1012"
    assert _answer(second)["action"] == "dial" and _answer(second)["target"] == "PJSIP/1013"
    assert rang == [("PJSIP/1012", 20), ("PJSIP/1013", 20)]
    assert pbx.ran("Dial") == ["PJSIP/1012,20", "PJSIP/1013,20"]
    assert pbx.ran("Queue") == [] and pbx.channel.language == "vi"
    _assert_reads_are_carried(pbx)

    (cdr,) = pbx.cdr_exchanges()
    assert cdr.url == f"{server_url}/webhooks/asterisk/hanoi/cdr"
    assert cdr.authorization == first.authorization
    assert cdr.content_type == "application/x-www-form-urlencoded"
    posted = cdr.fields
    assert posted["dst"] == "111" and posted["src"] == "+84912345678"  # the number dialled, not CDR(dst)
    assert posted["dstchannel"] == "PJSIP/1013-0000012b" and posted["disposition"] == "ANSWERED"
    assert posted["end"] == pbx.channel.cdr["end"] and posted["hotline_origin"] == ""
    event = await _cdr_stored(session, "hanoi", cdr)
    call = await session.scalar(
        select(Call).where(Call.linkedid == lk).execution_options(populate_existing=True)
    )
    assert call is not None and event.call_id == call.id
    assert call.ended_at is not None and call.wait_started_at is not None
    assert call.dialled_number == "111"
    # the hangup handler's dstchannel and answeredtime say who answered, and when
    assert posted["answeredtime"] == "95"
    assert call.outcome == "answered" and call.counsellor_extension == "PJSIP/1013"
    assert call.answered_at == call.ended_at - timedelta(seconds=95)
    offers = (await session.scalars(select(CallOffer).where(CallOffer.call_id == call.id))).all()
    assert [(o.extension, o.user_id, o.result) for o in offers] == [("PJSIP/1012", lan.id, "noanswer")]


async def test_wait_then_ask_again(client: httpx.AsyncClient, session: AsyncSession, server_url: str) -> None:
    await open_all_day(session)
    secret = await switchboard_secret(session, "hanoi")
    busy = await counsellor(session, extension="PJSIP/1012", state="on_call", languages=["vi", "en"])
    plan = load_dialplan()
    lk = new_linkedid()
    held: list[int] = []

    async def counsellor_frees_up(pbx: Pbx, seconds: int) -> bool:
        held.append(seconds)
        await session.execute(
            text("UPDATE counsellor_presence SET state = 'available' WHERE user_id = :u"), {"u": busy.id}
        )
        return True

    pbx = Pbx(
        plan,
        globals_for(plan, "hanoi", server_url, secret),
        _channel("0912345678", lk, ended=False),  # CDR(end) empty: cdr.conf endbeforehexten=no
        client,
        Caller(keys=["2", ""], dial=_answered, hold=counsellor_frees_up),  # English, no region
    )
    await pbx.call("hotline", "18001567")

    first, second = pbx.route_exchanges()
    assert first.fields["ivr_language"] == "en" and first.fields["ivr_region"] == ""
    assert first.fields["exten"] == "18001567"
    assert _answer(first) == {
        "action": "wait",
        "seconds": "15",
        "position": "1",
        "priority": "0",
        "reason": "waiting",
    }
    assert (
        held == [15] and pbx.ran("MusicOnHold") == [",15"] and pbx.ran("Playback") == ["hotline/please-hold"]
    )
    assert second.fields["attempt"] == "2" and second.fields["previous_target"] == ""
    assert _answer(second)["action"] == "dial" and pbx.ran("Dial") == ["PJSIP/1012,20"]
    assert pbx.channel.language == "en"
    _assert_reads_are_carried(pbx)

    (cdr,) = pbx.cdr_exchanges()
    end = datetime.strptime(cdr.fields["end"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=PBX_TZ)
    assert abs((end - datetime.now(PBX_TZ)).total_seconds()) < 60  # STRFTIME(${EPOCH}) stood in for it
    await _cdr_stored(session, "hanoi", cdr)


async def test_transfer_to_the_callers_region_and_the_leg_there_stays_one_call(
    client: httpx.AsyncClient, session: AsyncSession, server_url: str
) -> None:
    await open_all_day(session)
    hanoi_secret = await switchboard_secret(session, "hanoi")
    danang_secret = await switchboard_secret(session, "danang")
    await counsellor(session, switchboard="danang", extension="PJSIP/2012")
    plan = load_dialplan()
    lk, lk_danang = new_linkedid(), new_linkedid()
    caller_number = "02363822123"  # a Đà Nẵng landline (area code 236) calling Hà Nội's 111
    legs: list[Pbx] = []

    async def over_the_trunk(pbx: Pbx, target: str, ring_seconds: int | None) -> str:
        """Dial(IAX2/danang-trunk/111): the Đà Nẵng switchboard runs the same file, receiving the
        IAXVAR()s the Hà Nội channel set (and none of its other variables)."""
        technology, peer, exten = target.split("/")
        assert (technology, peer) == ("IAX2", "danang-trunk")
        channel = _channel(caller_number, lk_danang, name="IAX2/hanoi-trunk-4321")
        channel.iax_in = dict(pbx.channel.iax_out)
        leg = Pbx(
            plan,
            globals_for(plan, "danang", server_url, danang_secret),
            channel,
            client,
            Caller(dial=_answered),
        )
        legs.append(leg)
        await leg.call("hotline-trunk-in", exten)
        return "ANSWER" if leg.ran("Dial") else "CONGESTION"

    pbx = Pbx(
        plan,
        globals_for(plan, "hanoi", server_url, hanoi_secret),
        _channel(caller_number, lk),
        client,
        Caller(keys=["1", ""], dial=over_the_trunk),
    )
    await pbx.call("hotline", "111")

    (asked,) = pbx.route_exchanges()
    assert _answer(asked) == {"action": "transfer", "target": "IAX2/danang-trunk/111", "reason": "area_code"}
    assert pbx.ran("Dial") == ["IAX2/danang-trunk/111"]
    assert pbx.channel.variables["HOTLINE_ORIGIN"] == f"hanoi:{lk}"
    assert pbx.channel.iax_out == {
        "HOTLINE_ORIGIN": f"hanoi:{lk}",
        "HOTLINE_LANG": "vi",
        "HOTLINE_REGION": "",
        "HOTLINE_DANGER": "",
    }
    _assert_reads_are_carried(pbx)

    (leg,) = legs
    (there,) = leg.route_exchanges()
    assert there.url == f"{server_url}/webhooks/asterisk/danang/route"
    assert there.authorization == basic_auth("danang", danang_secret)["Authorization"]
    assert there.fields["origin"] == f"hanoi:{lk}"
    assert there.body is not None and f"origin=hanoi%3A{lk}" in there.body
    assert there.fields["linkedid"] == lk_danang and there.fields["ivr_language"] == "vi"
    assert _answer(there)["action"] == "dial" and leg.ran("Dial") == ["PJSIP/2012,20"]
    _assert_reads_are_carried(leg)

    # both hangup handlers post their CDR; the leg's names the call it belongs to
    (leg_cdr,) = leg.cdr_exchanges()
    assert leg_cdr.url == f"{server_url}/webhooks/asterisk/danang/cdr"
    assert leg_cdr.fields["userfield"] == f"HOTLINE_ORIGIN=hanoi:{lk}"
    assert leg_cdr.fields["hotline_origin"] == f"hanoi:{lk}"
    leg_event = await _cdr_stored(session, "danang", leg_cdr)
    (hanoi_cdr,) = pbx.cdr_exchanges()
    hanoi_event = await _cdr_stored(session, "hanoi", hanoi_cdr)

    calls = (await session.scalars(select(Call).where(Call.linkedid.in_([lk, lk_danang])))).all()
    assert [(c.switchboard_code, c.linkedid) for c in calls] == [
        ("hanoi", lk)
    ]  # counted once, where it entered
    leg_row = await session.scalar(
        select(CallLeg).where(CallLeg.switchboard_code == "danang", CallLeg.linkedid == lk_danang)
    )
    assert leg_row is not None and leg_row.call_id == calls[0].id
    assert leg_event.call_id == hanoi_event.call_id == calls[0].id


async def test_the_services_own_queue_answer(
    client: httpx.AsyncClient, session: AsyncSession, server_url: str
) -> None:
    await open_all_day(session)
    await session.execute(text("UPDATE routing_settings SET max_wait_seconds = 0"))  # the wait's limit
    secret = await switchboard_secret(session, "hanoi")
    plan = load_dialplan()
    queued: list[tuple[str, str]] = []

    async def queue(pbx: Pbx, name: str) -> str:
        queued.append((name, pbx.variable("QUEUE_PRIO")))
        return "TIMEOUT"

    pbx = Pbx(
        plan,
        globals_for(plan, "hanoi", server_url, secret),
        _channel("0912345678", new_linkedid()),
        client,
        Caller(keys=["9"], queue=queue),  # "I am in danger now"
    )
    await pbx.call("hotline", "111")

    (asked,) = pbx.route_exchanges()
    assert asked.fields["ivr_emergency"] == "1"
    assert asked.status == 200
    assert _answer(asked) == {"action": "queue", "queue": "q-local", "priority": "10", "reason": "wait_limit"}
    assert queued == [("q-local", "10")]
    assert pbx.ran("Playback")[-1] == "hotline/sorry-call-again" and pbx.ran("Hangup") == [""]
    _assert_reads_are_carried(pbx)
    await _cdr_stored(session, "hanoi", pbx.cdr_exchanges()[0])


async def test_a_wrong_secret_sends_the_call_to_the_local_queue(
    client: httpx.AsyncClient, session: AsyncSession, server_url: str
) -> None:
    await open_all_day(session)
    await switchboard_secret(session, "hanoi")
    await counsellor(session, extension="PJSIP/1012")  # someone is free, but the service cannot tell
    plan = load_dialplan()
    queued: list[tuple[str, str]] = []

    async def queue(pbx: Pbx, name: str) -> str:
        queued.append((name, pbx.variable("QUEUE_PRIO")))
        return "HANGUP"

    pbx = Pbx(
        plan,
        globals_for(plan, "hanoi", server_url, "whsec_" + base64.b64encode(b"not the secret").decode()),
        _channel("0912345678", new_linkedid()),
        client,
        Caller(keys=["1", "1"], queue=queue),
    )
    await pbx.call("hotline", "111")

    (asked,) = pbx.route_exchanges()
    assert asked.status == 401
    assert _answer(asked) == {"action": "queue", "queue": "q-local", "reason": "unauthorized"}
    assert queued == [("q-local", "0")] and pbx.ran("Dial") == []
    _assert_reads_are_carried(pbx)
    (cdr,) = pbx.cdr_exchanges()
    assert cdr.status == 401  # refused too: nothing stored, and the call went on regardless


async def test_an_unreachable_service_sends_the_call_to_the_local_queue(client: httpx.AsyncClient) -> None:
    plan = load_dialplan()
    queued: list[tuple[str, str]] = []

    async def queue(pbx: Pbx, name: str) -> str:
        queued.append((name, pbx.variable("QUEUE_PRIO")))
        return "HANGUP"

    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    pbx = Pbx(
        plan,
        globals_for(plan, "hanoi", nowhere, "whsec_irrelevant"),
        _channel("0912345678", new_linkedid()),
        client,
        Caller(keys=["9"], queue=queue),
    )
    await pbx.call("hotline", "111")

    (asked,) = pbx.route_exchanges()
    assert asked.status is None and asked.answer == ""
    assert pbx.channel.hashes.get("route", {}).get("action", "") == ""
    assert queued == [("q-local", "10")]  # the local queue, with the emergency's priority
    assert pbx.ran("Queue") == ["q-local"]
    (cdr,) = pbx.cdr_exchanges()
    assert cdr.status is None and pbx.variable("CDR_POSTED") == ""


def test_the_interpreter_reads_asterisk_syntax_as_asterisk_does() -> None:
    """The few rules of Asterisk's own code the plays above depend on."""
    assert separate_args('a,"b,c",d(e,f),$[g,h]') == ["a", "b,c", "d(e,f)", "$[g,h]"]
    assert separate_args("a\\,b,c") == ["a,b", "c"]
    assert separate_args("url,x=1&y=2,3", limit=2) == ["url", "x=1&y=2,3"]
    assert separate_args("1?Set(X=a:b)", "?", remove_chars=False, limit=2) == ["1", "Set(X=a:b)"]
    assert separate_args("Set(X=a:b):Set(Y=c)", ":", remove_chars=False, limit=2) == [
        "Set(X=a:b)",
        "Set(Y=c)",
    ]
    assert expression('"dial" = "dial"') == "1" and expression('"" = "9"') == "0"
    assert expression("201 > 200") == "1" and expression("19 + 1") == "20"
    assert expression('"1" != ""') == "1"
    assert check_condition("") is False and check_condition("0") is False and check_condition("x") is True
