"""CMDB → Qualys: select CIs, queue their addresses, upload them, keep Qualys reference data and host ids."""
