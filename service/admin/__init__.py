"""Operator tools: the ``/admin`` HTTP surface and the pieces ``enricher dlq`` shares with it.

Each module does one job (authentication, the outcome recorder, DLQ selection and replay, the
redacted configuration, the routes); import them directly, so the command line does not pay
for the HTTP stack it does not use.
"""
