"""Realistic Asterisk event streams for one call, as a switchboard would send them.

Used by the simulator (``hotline-api simulate``) and by the tests. The sequences follow what
Asterisk emits for a hotline call (ASTERISK.md): the trunk channel enters Stasis and the IVR answers
it; the caller waits (Queue() in AMI mode); a counsellor's phone rings (Dial / AgentCalled) and
answers (Dial ANSWER, BridgeEnter, AgentConnect) or not (AgentRingNoAnswer); the caller hangs up;
a CDR is posted by the hangup handler; CEL closes with LINKEDID_END.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
KINDS = ("answered", "abandoned", "timeout", "not_queued", "failed", "missed_then_answered", "silent")


@dataclass
class Scenario:
    switchboard: str
    linkedid: str
    caller: str  # as the trunk presents it: 0912345678, 02363822123 …
    exten: str  # 111 or 18001567
    start: datetime
    kind: str = "answered"
    counsellor: str = "PJSIP/1012"  # dial target of the counsellor who answers
    missed_by: str = "PJSIP/1013"  # a counsellor who does not pick up
    caller_name: str = ""
    origin: str | None = None  # HOTLINE_ORIGIN for the leg of an overflowed call
    rng: random.Random = field(default_factory=random.Random)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # where the phases below have got to (channels as last sent, the moments that later events need)
    _trunk: str = field(default="", init=False, repr=False)
    _caller_ari: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _caller_ami: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _up_ari: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _up_ami: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _answer_at: datetime | None = field(default=None, init=False, repr=False)
    _joined: datetime | None = field(default=None, init=False, repr=False)
    _missed_dest: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    # the channel the caller is connected to: (name, ARI channel, a queue member or a trunk)
    _peer: tuple[str, dict[str, Any], bool] = field(default=("", {}, True), init=False, repr=False)
    _peer_ami: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _bridge: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _talk_start: datetime | None = field(default=None, init=False, repr=False)
    _hold: int = field(default=0, init=False, repr=False)

    # ---- channel helpers ----------------------------------------------------------------------

    def _uid(self, n: int) -> str:
        base, _, seq = self.linkedid.rpartition(".")
        return f"{base}.{int(seq) + n}"

    def _ari_channel(self, uid: str, name: str, state: str, number: str, exten: str) -> dict[str, Any]:
        channel: dict[str, Any] = {
            "id": uid,
            "name": name,
            "state": state,
            "protocol_id": "",
            "caller": {"name": self.caller_name, "number": number},
            "connected": {"name": "", "number": ""},
            "accountcode": "",
            "dialplan": {
                "context": "hotline",
                "exten": exten,
                "priority": 1,
                "app_name": "Stasis",
                "app_data": "hotline",
            },
            "creationtime": _ari_time(self.start),
            "language": "vi",
            "channelvars": {"CHANNEL(linkedid)": self.linkedid},
        }
        if self.origin:
            channel["channelvars"]["HOTLINE_ORIGIN"] = self.origin
        return channel

    def _ari(self, etype: str, at: datetime, **fields: Any) -> None:
        event = {
            "type": etype,
            "timestamp": _ari_time(at),
            "application": "hotline",
            "asterisk_id": "00:16:3e:00:00:01",
        }
        event.update(fields)
        self.events.append(("ari", event))

    def _ami_channel(
        self, prefix: str, uid: str, name: str, state: int, number: str, exten: str
    ) -> dict[str, str]:
        return {
            f"{prefix}Channel": name,
            f"{prefix}ChannelState": str(state),
            f"{prefix}ChannelStateDesc": "Up" if state == 6 else "Ring",
            f"{prefix}CallerIDNum": number,
            f"{prefix}CallerIDName": self.caller_name or "<unknown>",
            f"{prefix}ConnectedLineNum": "<unknown>",
            f"{prefix}ConnectedLineName": "<unknown>",
            f"{prefix}Language": "vi",
            f"{prefix}AccountCode": "",
            f"{prefix}Context": "hotline",
            f"{prefix}Exten": exten,
            f"{prefix}Priority": "1",
            f"{prefix}Uniqueid": uid,
            f"{prefix}Linkedid": self.linkedid,
        }

    def _ami(self, event: str, at: datetime, *channels: dict[str, str], **fields: Any) -> None:
        body: dict[str, Any] = {"Event": event, "Privilege": "call,all", "Timestamp": f"{at.timestamp():.6f}"}
        for ch in channels:
            body.update(ch)
        body.update({k: str(v) for k, v in fields.items()})
        self.events.append(("ami", body))

    # ---- the stream ---------------------------------------------------------------------------

    def build(self) -> list[tuple[str, dict[str, Any]]]:
        """The events of this call, in the order Asterisk would emit them."""
        self.events = []
        t = self.start
        self.begin(t)
        if self.kind == "failed":
            t += timedelta(seconds=1)
            self.congestion(t)
            return self.events

        # the IVR answers every call
        t += timedelta(milliseconds=600)
        self.answer_ivr(t)
        t += timedelta(seconds=self.rng.uniform(4, 20))  # the IVR menu
        self.choose(t)
        if self.kind in {"not_queued", "silent"}:
            t += timedelta(seconds=self.rng.uniform(1, 5))
            self.hang_up(t)
            return self.events

        # waiting in the hotline queue
        t += timedelta(seconds=1)
        self.join_queue(t)
        if self.kind in {"missed_then_answered"}:
            self.offer_missed(t)
            self.missed(t + timedelta(seconds=20))
            t += timedelta(seconds=20)
        if self.kind in {"answered", "missed_then_answered"}:
            t += timedelta(seconds=self.rng.uniform(2, 30))
            self.ring(t)
            t += timedelta(seconds=self.rng.uniform(2, 8))
            self.connect(t)
            t += timedelta(seconds=self.rng.uniform(30, 900))
            self.complete(t)
            return self.events
        if self.kind == "timeout":
            t += timedelta(seconds=300)
            self.queue_timeout(t)
            t += timedelta(seconds=5)
            self.hang_up(t)
            return self.events
        # abandoned: the caller gives up while waiting
        t += timedelta(seconds=self.rng.uniform(5, 120))
        self.abandon(t)
        self.hang_up(t)
        return self.events

    # ---- the phases of a call, each at one moment ---------------------------------------------
    # build() strings them together for a whole call at once; the simulator's live mode plays them
    # one by one, at the real time each happens. Each appends its events to ``events``.

    def begin(self, t: datetime) -> None:
        """The trunk channel appears, ringing."""
        self._trunk = f"PJSIP/trunk-{self.switchboard}-{int(self.linkedid.rpartition('.')[2]):08x}"
        self._caller_ari = self._ari_channel(self.linkedid, self._trunk, "Ring", self.caller, self.exten)
        self._caller_ami = self._ami_channel("", self.linkedid, self._trunk, 4, self.caller, self.exten)
        self._ari("ChannelCreated", t, channel=self._caller_ari)
        self._ami("Newchannel", t, self._caller_ami)

    def congestion(self, t: datetime) -> None:
        """The call fails before anything answers it."""
        uid, trunk, caller_ari = self.linkedid, self._trunk, self._caller_ari
        self._ari("ChannelHangupRequest", t, channel=caller_ari, cause=34)
        self._ari("ChannelDestroyed", t, channel=caller_ari, cause=34, cause_txt="Circuit/channel congestion")
        self._ami("Hangup", t, self._caller_ami, Cause=34, **{"Cause-txt": "Circuit/channel congestion"})
        self._cdr(answer=None, end=t, disposition="CONGESTION")
        self._cel("HANGUP", t, uid, trunk, extra='{"hangupcause":34,"hangupsource":"","dialstatus":""}')
        self._cel("LINKEDID_END", t, uid, trunk)

    def answer_ivr(self, t: datetime) -> None:
        """The IVR (Stasis) answers the call."""
        self._up_ari = dict(self._caller_ari, state="Up")
        self._up_ami = self._ami_channel("", self.linkedid, self._trunk, 6, self.caller, self.exten)
        self._ari("StasisStart", t, args=[], channel=self._up_ari)
        self._ari("ChannelStateChange", t, channel=self._up_ari)
        self._ami("Newstate", t, self._up_ami)
        self._cel("ANSWER", t, self.linkedid, self._trunk)
        self._answer_at = t
        if self.origin:
            self._ari("ChannelVarset", t, channel=self._up_ari, variable="HOTLINE_ORIGIN", value=self.origin)

    def choose(self, t: datetime, digit: str = "1") -> None:
        """The caller presses a key in the IVR."""
        self._ari("ChannelDtmfReceived", t, channel=self._up_ari, digit=digit, duration_ms=120)

    def join_queue(self, t: datetime) -> None:
        self._ami("QueueCallerJoin", t, self._up_ami, Queue="q-hotline", Position=1, Count=1)
        self._joined = t

    def offer_missed(self, t: datetime, by: str | None = None, uid_offset: int = 3) -> None:
        """A counsellor's phone rings (``missed_by``, or ``by``), and will not be picked up."""
        if by is not None:
            self.missed_by = by
        uid = self._uid(uid_offset)
        name = f"{self.missed_by}-{int(uid.rpartition('.')[2]):08x}"
        self._missed_dest = self._ami_channel("Dest", uid, name, 5, self.caller, "s")
        self._ami(
            "AgentCalled",
            t,
            self._up_ami,
            self._missed_dest,
            Queue="q-hotline",
            MemberName="counsellor-2",
            Interface=self.missed_by,
        )

    def missed(self, t: datetime, ring_seconds: int = 20) -> None:
        """The phone rung by offer_missed() rings out."""
        self._ami(
            "AgentRingNoAnswer",
            t,
            self._up_ami,
            self._missed_dest,
            Queue="q-hotline",
            MemberName="counsellor-2",
            Interface=self.missed_by,
            RingTime=ring_seconds,
        )

    def ring(self, t: datetime, counsellor: str | None = None, uid_offset: int = 7) -> None:
        """The phone of the counsellor who will answer rings (``counsellor``, or ``by``)."""
        if counsellor is not None:
            self.counsellor = counsellor
        uid = self._uid(uid_offset)
        name = f"{self.counsellor}-{int(uid.rpartition('.')[2]):08x}"
        self._peer = (name, self._ari_channel(uid, name, "Ring", self.caller, "s"), True)
        self._peer_ami = self._ami_channel("Dest", uid, name, 5, self.caller, "s")
        self._ami(
            "AgentCalled",
            t,
            self._up_ami,
            self._peer_ami,
            Queue="q-hotline",
            MemberName="counsellor",
            Interface=self.counsellor,
        )
        self._ari(
            "Dial",
            t,
            peer=self._peer[1],
            caller=self._up_ari,
            dialstring=self.counsellor.split("/", 1)[1],
            dialstatus="",
        )

    def transfer(self, t: datetime, dial_string: str, uid_offset: int = 9) -> None:
        """The caller leaves the queue for another switchboard, dialled over a trunk
        (``IAX2/hanoi-trunk/111``); connect() follows when the trunk answers."""
        tech, _, rest = dial_string.partition("/")
        uid = self._uid(uid_offset)
        name = f"{tech}/{rest.split('/', 1)[0]}-{int(uid.rpartition('.')[2]):08x}"
        self._peer = (name, self._ari_channel(uid, name, "Ring", self.caller, "s"), False)
        self._ami("QueueCallerLeave", t, self._up_ami, Queue="q-hotline", Count=0, Position=1)
        self._ari("Dial", t, peer=self._peer[1], caller=self._up_ari, dialstring=rest, dialstatus="")

    def connect(self, t: datetime) -> None:
        """The phone rung by ring() (or the trunk of transfer()) answers: caller and peer are bridged."""
        name, peer_ari, agent = self._peer
        peer_up = dict(peer_ari, state="Up")
        self._peer = (name, peer_up, agent)
        self._ari("Dial", t, peer=peer_up, caller=self._up_ari, dialstatus="ANSWER")
        self._bridge = {
            "id": f"bridge-{self.linkedid}",
            "technology": "simple_bridge",
            "bridge_type": "mixing",
            "bridge_class": "stasis",
            "creator": "hotline",
            "name": "",
            "channels": [],
            "creationtime": _ari_time(t),
        }
        self._ari("ChannelEnteredBridge", t, bridge=self._bridge, channel=self._up_ari)
        self._ari("ChannelEnteredBridge", t, bridge=self._bridge, channel=peer_up)
        self._talk_start = t
        if not agent:
            return
        self._peer_ami = self._ami_channel("Dest", peer_up["id"], name, 6, self.caller, "s")
        self._hold = int((t - (self._joined or t)).total_seconds())
        self._ami(
            "AgentConnect",
            t,
            self._up_ami,
            self._peer_ami,
            Queue="q-hotline",
            MemberName="counsellor",
            Interface=self.counsellor,
            HoldTime=self._hold,
            RingTime=3,
        )
        self._cel(
            "BRIDGE_ENTER",
            t,
            peer_up["id"],
            name,
            extra='{"bridge_id":"b1","bridge_technology":"simple_bridge"}',
        )
        self._ami("QueueCallerLeave", t, self._up_ami, Queue="q-hotline", Count=0, Position=1)

    def complete(self, t: datetime) -> None:
        """The conversation connect() began ends: the caller hangs up."""
        name, peer_up, agent = self._peer
        if agent:
            self._ami(
                "AgentComplete",
                t,
                self._up_ami,
                self._peer_ami,
                Queue="q-hotline",
                MemberName="counsellor",
                Interface=self.counsellor,
                HoldTime=self._hold,
                TalkTime=int((t - (self._talk_start or t)).total_seconds()),
                Reason="caller",
            )
        self._ari("ChannelLeftBridge", t, bridge=self._bridge, channel=peer_up)
        self._ari("ChannelDestroyed", t, channel=peer_up, cause=16, cause_txt="Normal Clearing")
        self.hang_up(t, dst_channel=name)

    def queue_timeout(self, t: datetime) -> None:
        """Queue() gives up on the caller (QUEUESTATUS=TIMEOUT); hang_up() follows."""
        self._ari("ChannelVarset", t, channel=self._up_ari, variable="QUEUESTATUS", value="TIMEOUT")
        self._ami("VarSet", t, self._up_ami, Variable="QUEUESTATUS", Value="TIMEOUT")
        self._ami("QueueCallerLeave", t, self._up_ami, Queue="q-hotline", Count=0, Position=1)

    def abandon(self, t: datetime) -> None:
        """The caller gives up while waiting; hang_up() follows."""
        self._ami(
            "QueueCallerAbandon",
            t,
            self._up_ami,
            Queue="q-hotline",
            Position=1,
            OriginalPosition=1,
            HoldTime=int((t - (self._joined or t)).total_seconds()),
        )

    def hang_up(self, t: datetime, dst_channel: str = "") -> None:
        """The caller hangs up (after answer_ivr())."""
        self._hangup(
            t, self._up_ari, self._up_ami, self.linkedid, self._trunk, 16, self._answer_at, dst_channel
        )

    def _hangup(
        self,
        t: datetime,
        up_ari: dict[str, Any],
        up_ami: dict[str, str],
        uid: str,
        trunk: str,
        cause: int,
        answer_at: datetime | None,
        dst_channel: str = "",
    ) -> None:
        self._ari("ChannelHangupRequest", t, channel=up_ari, cause=cause)
        self._ari("StasisEnd", t, channel=up_ari)
        self._ari("ChannelDestroyed", t, channel=up_ari, cause=cause, cause_txt="Normal Clearing")
        self._ami("Hangup", t, up_ami, Cause=cause, **{"Cause-txt": "Normal Clearing"})
        self._cdr(answer=answer_at, end=t, disposition="ANSWERED", dst_channel=dst_channel)
        self._cel(
            "HANGUP", t, uid, trunk, extra=f'{{"hangupcause":{cause},"hangupsource":"","dialstatus":""}}'
        )
        self._cel("LINKEDID_END", t, uid, trunk)

    def _cdr(self, answer: datetime | None, end: datetime, disposition: str, dst_channel: str = "") -> None:
        trunk = f"PJSIP/trunk-{self.switchboard}-{int(self.linkedid.rpartition('.')[2]):08x}"
        record = {
            "clid": f'"{self.caller_name}" <{self.caller}>',
            "src": self.caller,
            "dst": self.exten,
            "dcontext": "hotline",
            "channel": trunk,
            "dstchannel": dst_channel,
            "lastapp": "Hangup",
            "lastdata": "",
            "start": _local(self.start),
            "answer": _local(answer) if answer else "",
            "end": _local(end),
            "duration": str(int((end - self.start).total_seconds())),
            "billsec": str(int((end - answer).total_seconds())) if answer else "0",
            "disposition": disposition,
            "amaflags": "DOCUMENTATION",
            "accountcode": "",
            "uniqueid": self.linkedid,
            "linkedid": self.linkedid,
            "userfield": f"HOTLINE_ORIGIN={self.origin}" if self.origin else "",
            "sequence": "1",
        }
        self.events.append(("cdr", record))

    def _cel(self, name: str, t: datetime, uid: str, channel: str, extra: str = "") -> None:
        self.events.append(
            (
                "cel",
                {
                    "EventName": name,
                    "EventTime": _local(t, micro=True),
                    "CallerIDnum": self.caller,
                    "Exten": self.exten,
                    "Context": "hotline",
                    "Channel": channel,
                    "Application": "",
                    "AppData": "",
                    "UniqueID": uid,
                    "LinkedID": self.linkedid,
                    "Peer": "",
                    "Extra": extra,
                },
            )
        )


def _ari_time(at: datetime) -> str:
    local = at.astimezone(LOCAL)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}" + local.strftime("%z")


def _local(at: datetime, micro: bool = False) -> str:
    local = at.astimezone(LOCAL)
    return local.strftime("%Y-%m-%d %H:%M:%S.%f" if micro else "%Y-%m-%d %H:%M:%S")


def ami_text(events: list[dict[str, Any]]) -> bytes:
    """AMI events as the manager interface writes them: ``Key: value`` lines, blank line between."""
    return "".join("".join(f"{k}: {v}\r\n" for k, v in e.items()) + "\r\n" for e in events).encode("utf-8")
