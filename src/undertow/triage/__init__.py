"""Cases, priority, decisions, referrals and the audit log: where signals meet reviewers."""
