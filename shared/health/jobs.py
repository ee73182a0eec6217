"""Names of the monitor's ``job_runs`` rows, shared with the readers that report on them (the
dashboard's summary) without importing the monitor itself."""

TICK_JOB = "monitor.tick"
HOLD_JOB = "monitor.partition-hold"
