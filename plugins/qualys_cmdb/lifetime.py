"""The max transaction lifetime (PR-3): how long one step of a run may keep starting new work.

Every step that works in pages or batches (fetch, parse, stage, classify, load, upload, the queue cleanup) asks
:meth:`Lifetime.exceeded` before it starts the next page or batch. Past the lifetime it stops there, with what it
has done stored and the rest left where the next run finds it: the vendor app terminates such a transaction, and
logs it in its "terminate schedule logs" (HK-4, :mod:`qualys_cmdb.staging.terminated`).

The clock is injectable (tests advance it by minutes per look instead of sleeping).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


class _HasLifetime(Protocol):
    @property
    def max_transaction_lifetime_minutes(self) -> int: ...


@dataclass
class Lifetime:
    """One step's lifetime, counted from its creation.

    :param minutes: the max transaction lifetime (``properties.max_transaction_lifetime_minutes``)
    :param clock: seconds from any fixed point (``time.monotonic``)
    """

    minutes: float
    clock: Callable[[], float] = time.monotonic
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    @classmethod
    def of(cls, properties: _HasLifetime) -> Lifetime:
        """The lifetime the properties set, starting now (tests replace this to inject a clock)."""
        return cls(properties.max_transaction_lifetime_minutes)

    @property
    def deadline(self) -> float:
        """The clock's value at which the lifetime is over."""
        return self.started + self.minutes * 60

    def exceeded(self) -> bool:
        """True once the lifetime is over: start no further page or batch."""
        return self.clock() >= self.deadline

    def reason(self, done: str) -> str:
        """Why a step stopped, saying what it had done (``done``: "3 of 8 record(s) parsed")."""
        return f"max transaction lifetime of {self.minutes:g} min reached after {done}"
