"""Host health for the ``monitor`` function (monitoring.md).

signals → one sample per host (sampling) → settled state and pending reports (verdicts) →
safety gates (gates) → notifications with fencing evidence (fencing), orchestrated per tick by
``cycle``.
"""
