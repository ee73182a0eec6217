"""dashboard: gate decisions kept where the dashboard and the API can show them

Until now a safety gate holding verdicts back was only logged and emitted as a CloudEvent; the
dashboard's "why was this host not reported?" needs it stored.

Revision ID: 0004_dashboard
Revises: 0003_metrics
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004_dashboard"
down_revision = "0003_metrics"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gate_decisions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.Column("gate", sa.String(length=32), nullable=False),
        sa.Column("hosts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("segment", sa.String(length=36), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_gate_decisions_decided_at", "gate_decisions", ["decided_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_gate_decisions_decided_at", table_name="gate_decisions")
    op.drop_table("gate_decisions")
