"""The reviewers' web app and its access control (users, roles, sessions, API tokens)."""
