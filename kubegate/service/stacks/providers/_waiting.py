"""Waiting for EKS to settle: a cluster ACTIVE, an update Successful, a config gone.

EKS answers create, update and delete calls at once and finishes later, so a provider polls.
The clock and the sleep are injected so that tests (and a stack layer with its own deadline)
need not wait in real time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from kubegate.service.stacks.calls import ServiceError

POLL_SECONDS = 0.2
TIMEOUT_SECONDS = 300.0


@dataclass(frozen=True)
class Waiter:
    interval: float = POLL_SECONDS
    timeout: float = TIMEOUT_SECONDS
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def until(self, done: Callable[[], bool], what: str) -> None:
        """Poll ``done`` until it is true; a ServiceError naming ``what`` after the timeout.

        ``done`` may raise ServiceError itself (a failed update), which ends the wait."""
        deadline = self.clock() + self.timeout
        while not done():
            if self.clock() >= deadline:
                raise ServiceError("eks", "NotStabilized", 400,
                                   f"Exceeded attempts to wait: {what} did not happen within {self.timeout:g} seconds")
            self.sleep(self.interval)
