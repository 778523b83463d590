"""Qualys API simulator: API server (FO, QPS) and gateway (JWT auth, CSAM/GAV) on one port.

Start it with :class:`simulators.qualys.server.QualysSimulator` or ``python -m simulators.qualys``.
The behaviour it imitates is documented in ``/work/shared/reference/qualys-api.md``.
"""
