"""Recovery: the notification lifecycle, the host/instance/process workflows and the sweep.

``attempt.handle_trigger`` runs one attempt for a delivered trigger; ``sweep.sweep`` is the
PingSource backstop. Everything shared between workers lives in PostgreSQL (recovery.md §1).
"""
