"""The latency profile in force on the ServiceNow simulator (see ``README.md``, "Latency model").

Each API request's modelled server time (:class:`~simulators.latency.ServiceNowLatency`, times ``scale``):

* IRE (``identifyreconcile``): ``ire_s(main CIs, related entries, dependent items)``;
* Table API (``table`` and ``cmdb/meta``): ``table_s(rows returned)``;
* anything else (Import Set API, ``/oauth_token.do``, a request refused before its API ran): ``request_s``.

Gates (Table, IRE and Import Set requests, not ``/oauth_token.do``): requests carrying the same ``JSESSIONID``
cookie are worked on one at a time (reference section 1.7, session synchronisation), then the API_INT semaphore
lets ``semaphore`` requests be worked on at once, ``queue`` more wait in arrival order and the rest are answered
429 at once.
"""

from __future__ import annotations

from simulators.latency import LatencyProfile
from simulators.pacing import FifoSemaphore, Pacer, SessionLocks

#: Families that run on the API_INT semaphore and are synchronised per session.
GATED_FAMILIES = frozenset({"table", "ire", "import"})


class ServiceNowPacer(Pacer):
    """A profile with the instance's semaphore and session locks."""

    def __init__(self, profile: LatencyProfile) -> None:
        super().__init__(profile)
        model = profile.servicenow
        self.semaphore = FifoSemaphore(model.semaphore, model.queue)
        self.sessions = SessionLocks()

    def modelled_s(self, family: str, cost: dict[str, int] | None) -> float:
        """Modelled server seconds (after ``scale``) of a request of ``family`` whose API reported ``cost``."""
        model = self.profile.servicenow
        if family == "ire" and cost is not None:
            seconds = model.ire_s(cost.get("cis", 0), cost.get("related", 0), cost.get("dependents", 0))
        elif family == "table":
            seconds = model.table_s((cost or {}).get("rows", 0))
        else:
            seconds = model.request_s
        return self.scaled(seconds)
