"""api: index for the default notification list order (created_at, id)

Lists sort by ``created_at`` then ``id`` unless asked otherwise (api.md §7); without this index
every page of a large table sorted the whole table.

Revision ID: 0002_api
Revises: 0001
"""

from alembic import op

revision = "0002_api"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_notifications_created_at_id", "notifications", ["created_at", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_created_at_id", table_name="notifications")
