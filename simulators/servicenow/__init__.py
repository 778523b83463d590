"""ServiceNow CMDB simulator: Table API, IRE, Import Set API, OAuth and a control API on one port.

Start it with :class:`simulators.servicenow.server.ServiceNowSimulator` or ``python -m simulators.servicenow``.
The behaviour it imitates is documented in ``/work/shared/reference/servicenow-api.md``.
"""
