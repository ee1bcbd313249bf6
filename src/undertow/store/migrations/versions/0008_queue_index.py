"""queue indexes: (status, priority, case_id) and (priority, case_id), so that a page of the
queue is read in order

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_cases_queue", table_name="cases")
    op.create_index("ix_cases_queue", "cases", ["status", "priority", "case_id"])
    op.create_index("ix_cases_priority", "cases", ["priority", "case_id"])


def downgrade() -> None:
    op.drop_index("ix_cases_priority", table_name="cases")
    op.drop_index("ix_cases_queue", table_name="cases")
    op.create_index("ix_cases_queue", "cases", ["status", "priority"])
