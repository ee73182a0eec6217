"""metrics: indexes that keep a /metrics scrape to a few cheap reads at any table size

Notifications are counted from an index on (type, status); vmoves still moving are found by a
partial index; ended attempts and vmoves are read by end time, past the scrape rollup's
watermark only (shared/metrics.py).

Revision ID: 0003_metrics
Revises: 0002_api
"""

from alembic import op

revision = "0003_metrics"
down_revision = "0002_api"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_notifications_type_status", "notifications", ["type", "status"])
    op.create_index(
        "ix_vmoves_unfinished",
        "vmoves",
        ["type", "status"],
        postgresql_where="status IN ('pending', 'ongoing') AND deleted = 0",
    )
    op.create_index("ix_vmoves_end_time", "vmoves", ["end_time"])
    op.create_index("ix_recovery_attempts_ended_at", "recovery_attempts", ["ended_at"])


def downgrade() -> None:
    op.drop_index("ix_recovery_attempts_ended_at", table_name="recovery_attempts")
    op.drop_index("ix_vmoves_end_time", table_name="vmoves")
    op.drop_index("ix_vmoves_unfinished", table_name="vmoves")
    op.drop_index("ix_notifications_type_status", table_name="notifications")
