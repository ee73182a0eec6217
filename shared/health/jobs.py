"""Names of the monitor's ``job_runs`` rows, shared with the readers that report on them (the
dashboard's summary) without importing the monitor itself."""

TICK_JOB = "monitor.tick"
HOLD_JOB = "monitor.partition-hold"
ROUND_JOB = "monitor.round"  # last_run_at: when a round last judged hosts (not dropped)
CAPACITY_JOB = "monitor.capacity"  # last_result: the failover-capacity check per segment
