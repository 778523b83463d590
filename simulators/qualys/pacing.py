"""The latency profile in force on the Qualys simulator (see ``README.md``, "Latency model").

Each API request's modelled server time (:class:`~simulators.latency.QualysLatency`, times ``scale``):

* a CSAM page (``/rest/2.0/search/am/asset``, the ``/am/v1`` lists, and ``get``, a page of one):
  ``csam_page_s(assets, software rows, other detail rows)``, counted in what the page carries;
* a QPS HostAsset page (``search`` or ``get``): ``qps_page_s(hosts)``;
* anything else on the gateway (``/auth``, counts, an empty page, an error): ``csam_request_s``;
  on the API server (FO, other QPS calls): ``qps_request_s``.

Gates, the subscription's limits from the profile (reference section 7): the CSAM search endpoints get a rolling
window of ``rate_limit`` calls per ``rate_window_s`` and at most ``concurrency`` calls running, both answered
HTTP 429 with ``X-RateLimit-*`` headers; FO endpoints get the same numbers per endpoint (409 CODE 1965 / 1960).
A gate refuses at once: Qualys does not queue.  The window is a time, so it scales with ``scale`` (rounded up
to whole seconds).  A fault's ``gateway_rate_limit`` / ``fo_rate_limit`` set through ``/sim/control/faults``
takes precedence over the profile's.
"""

from __future__ import annotations

import math

from simulators.latency import LatencyProfile
from simulators.pacing import Pacer
from simulators.qualys.ratelimit import FoLimiter, GatewayLimiter


class QualysPacer(Pacer):
    """A profile with the subscription's gateway and FO limiters."""

    def __init__(self, profile: LatencyProfile) -> None:
        super().__init__(profile)
        model = profile.qualys
        window = max(1, math.ceil(self.scaled(model.rate_window_s)))
        self.gateway_limiter = GatewayLimiter(model.rate_limit, window, None, False, concurrency=model.concurrency)
        self.fo_limiter = FoLimiter(model.rate_limit, window, model.concurrency)

    def modelled_s(self, family: str, cost: dict[str, int] | None) -> float:
        """Modelled server seconds (after ``scale``) of a request of ``family`` whose handler reported ``cost``."""
        model = self.profile.qualys
        if family in ("csam", "auth"):
            if family == "csam" and cost is not None:
                seconds = model.csam_page_s(
                    cost.get("assets", 0), cost.get("software_rows", 0), cost.get("detail_rows", 0)
                )
            else:
                seconds = model.csam_request_s
        elif family == "qps" and cost is not None:
            seconds = model.qps_page_s(cost.get("assets", 0))
        else:
            seconds = model.qps_request_s
        return self.scaled(seconds)
