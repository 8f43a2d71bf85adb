"""What the PBX readers share: the connection state the status reports, and the reconnect delays."""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

# stores one event in the spool and returns once it is committed (None: a copy already there)
Sink = Callable[[str, bytes], Awaitable[int | None]]

_random = random.SystemRandom()


@dataclass
class SourceState:
    """One PBX connection, as the status endpoint shows it."""

    name: str
    enabled: bool
    connected: bool = False
    connected_since: float | None = None
    connects: int = 0
    received: int = 0
    copies: int = 0  # events the PBX sent again that the spool already held
    last_event_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None

    def up(self) -> None:
        self.connected = True
        self.connected_since = time.time()
        self.connects += 1

    def down(self, error: str | None) -> None:
        self.connected = False
        self.connected_since = None
        if error is not None:
            self.last_error = error
            self.last_error_at = time.time()

    def as_json(self) -> dict[str, object]:
        return {
            "enabled": self.enabled,
            "connected": self.connected,
            "connected_since": self.connected_since,
            "connects": self.connects,
            "received": self.received,
            "copies": self.copies,
            "last_event_at": self.last_event_at,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }


class Backoff:
    """Capped exponential delays with full jitter: a random time between 0 and the cap of the step."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = maximum
        self.attempt = 0

    def ceiling(self) -> float:
        return float(min(self.maximum, self.initial * 2 ** min(self.attempt, 30)))

    def next(self) -> float:
        delay = _random.uniform(0, self.ceiling())
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
