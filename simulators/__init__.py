"""Local HTTP simulators of the external services the CMDB sync talks to.

Each sub-package is a standard-library-only server meant for tests and local development:
``simulators.qualys`` imitates the Qualys API server (FO + QPS) and gateway (JWT + CSAM/GAV).
"""
