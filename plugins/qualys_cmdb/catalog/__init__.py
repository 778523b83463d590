"""The software catalog (SRC-5, HK-5, PR-6): pulled from the CSAM asset inventory, staged per source, written to the
CMDB's software table when the source asks for it."""
