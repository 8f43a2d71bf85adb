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
        caller_uid = self.linkedid
        trunk = f"PJSIP/trunk-{self.switchboard}-{int(self.linkedid.rpartition('.')[2]):08x}"
        caller_ari = self._ari_channel(caller_uid, trunk, "Ring", self.caller, self.exten)
        caller_ami = self._ami_channel("", caller_uid, trunk, 4, self.caller, self.exten)

        self._ari("ChannelCreated", t, channel=caller_ari)
        self._ami("Newchannel", t, caller_ami)
        if self.kind == "failed":
            t += timedelta(seconds=1)
            self._ari("ChannelHangupRequest", t, channel=caller_ari, cause=34)
            self._ari(
                "ChannelDestroyed", t, channel=caller_ari, cause=34, cause_txt="Circuit/channel congestion"
            )
            self._ami("Hangup", t, caller_ami, Cause=34, **{"Cause-txt": "Circuit/channel congestion"})
            self._cdr(answer=None, end=t, disposition="CONGESTION")
            self._cel(
                "HANGUP", t, caller_uid, trunk, extra='{"hangupcause":34,"hangupsource":"","dialstatus":""}'
            )
            self._cel("LINKEDID_END", t, caller_uid, trunk)
            return self.events

        # the IVR answers every call
        t += timedelta(milliseconds=600)
        up_ari = dict(caller_ari, state="Up")
        up_ami = self._ami_channel("", caller_uid, trunk, 6, self.caller, self.exten)
        self._ari("StasisStart", t, args=[], channel=up_ari)
        self._ari("ChannelStateChange", t, channel=up_ari)
        self._ami("Newstate", t, up_ami)
        self._cel("ANSWER", t, caller_uid, trunk)
        answer_at = t
        if self.origin:
            self._ari("ChannelVarset", t, channel=up_ari, variable="HOTLINE_ORIGIN", value=self.origin)
        t += timedelta(seconds=self.rng.uniform(4, 20))  # the IVR menu
        self._ari("ChannelDtmfReceived", t, channel=up_ari, digit="1", duration_ms=120)
        if self.kind in {"not_queued", "silent"}:
            t += timedelta(seconds=self.rng.uniform(1, 5))
            self._hangup(t, up_ari, up_ami, caller_uid, trunk, 16, answer_at)
            return self.events

        # waiting in the hotline queue
        t += timedelta(seconds=1)
        self._ami("QueueCallerJoin", t, up_ami, Queue="q-hotline", Position=1, Count=1)
        joined = t
        if self.kind in {"missed_then_answered"}:
            self._ring_no_answer(t, up_ami)
            t += timedelta(seconds=20)
        if self.kind in {"answered", "missed_then_answered"}:
            t += timedelta(seconds=self.rng.uniform(2, 30))
            agent_uid = self._uid(7)
            agent_name = f"{self.counsellor}-{int(agent_uid.rpartition('.')[2]):08x}"
            agent_ari = self._ari_channel(agent_uid, agent_name, "Ring", self.caller, "s")
            agent_ami = self._ami_channel("Dest", agent_uid, agent_name, 5, self.caller, "s")
            self._ami(
                "AgentCalled",
                t,
                up_ami,
                agent_ami,
                Queue="q-hotline",
                MemberName="counsellor",
                Interface=self.counsellor,
            )
            self._ari(
                "Dial",
                t,
                peer=agent_ari,
                caller=up_ari,
                dialstring=self.counsellor.split("/", 1)[1],
                dialstatus="",
            )
            t += timedelta(seconds=self.rng.uniform(2, 8))
            agent_up = dict(agent_ari, state="Up")
            self._ari("Dial", t, peer=agent_up, caller=up_ari, dialstatus="ANSWER")
            bridge = {
                "id": f"bridge-{self.linkedid}",
                "technology": "simple_bridge",
                "bridge_type": "mixing",
                "bridge_class": "stasis",
                "creator": "hotline",
                "name": "",
                "channels": [],
                "creationtime": _ari_time(t),
            }
            self._ari("ChannelEnteredBridge", t, bridge=bridge, channel=up_ari)
            self._ari("ChannelEnteredBridge", t, bridge=bridge, channel=agent_up)
            agent_up_ami = self._ami_channel("Dest", agent_uid, agent_name, 6, self.caller, "s")
            hold = int((t - joined).total_seconds())
            self._ami(
                "AgentConnect",
                t,
                up_ami,
                agent_up_ami,
                Queue="q-hotline",
                MemberName="counsellor",
                Interface=self.counsellor,
                HoldTime=hold,
                RingTime=3,
            )
            self._cel(
                "BRIDGE_ENTER",
                t,
                agent_uid,
                agent_name,
                extra='{"bridge_id":"b1","bridge_technology":"simple_bridge"}',
            )
            self._ami("QueueCallerLeave", t, up_ami, Queue="q-hotline", Count=0, Position=1)
            talk_start = t
            t += timedelta(seconds=self.rng.uniform(30, 900))
            self._ami(
                "AgentComplete",
                t,
                up_ami,
                agent_up_ami,
                Queue="q-hotline",
                MemberName="counsellor",
                Interface=self.counsellor,
                HoldTime=hold,
                TalkTime=int((t - talk_start).total_seconds()),
                Reason="caller",
            )
            self._ari("ChannelLeftBridge", t, bridge=bridge, channel=agent_up)
            self._ari("ChannelDestroyed", t, channel=agent_up, cause=16, cause_txt="Normal Clearing")
            self._hangup(t, up_ari, up_ami, caller_uid, trunk, 16, answer_at, dst_channel=agent_name)
            return self.events
        if self.kind == "timeout":
            t += timedelta(seconds=300)
            self._ari("ChannelVarset", t, channel=up_ari, variable="QUEUESTATUS", value="TIMEOUT")
            self._ami("VarSet", t, up_ami, Variable="QUEUESTATUS", Value="TIMEOUT")
            self._ami("QueueCallerLeave", t, up_ami, Queue="q-hotline", Count=0, Position=1)
            t += timedelta(seconds=5)
            self._hangup(t, up_ari, up_ami, caller_uid, trunk, 16, answer_at)
            return self.events
        # abandoned: the caller gives up while waiting
        t += timedelta(seconds=self.rng.uniform(5, 120))
        self._ami(
            "QueueCallerAbandon",
            t,
            up_ami,
            Queue="q-hotline",
            Position=1,
            OriginalPosition=1,
            HoldTime=int((t - joined).total_seconds()),
        )
        self._hangup(t, up_ari, up_ami, caller_uid, trunk, 16, answer_at)
        return self.events

    def _ring_no_answer(self, t: datetime, up_ami: dict[str, str]) -> None:
        uid = self._uid(3)
        name = f"{self.missed_by}-{int(uid.rpartition('.')[2]):08x}"
        dest = self._ami_channel("Dest", uid, name, 5, self.caller, "s")
        self._ami(
            "AgentCalled",
            t,
            up_ami,
            dest,
            Queue="q-hotline",
            MemberName="counsellor-2",
            Interface=self.missed_by,
        )
        self._ami(
            "AgentRingNoAnswer",
            t + timedelta(seconds=20),
            up_ami,
            dest,
            Queue="q-hotline",
            MemberName="counsellor-2",
            Interface=self.missed_by,
            RingTime=20,
        )

    def _hangup(
        self,
        t: datetime,
        up_ari: dict[str, Any],
        up_ami: dict[str, str],
        uid: str,
        trunk: str,
        cause: int,
        answer_at: datetime,
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
