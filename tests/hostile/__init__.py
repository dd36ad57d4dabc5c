"""Hostile capsules and hostile servers (issue 8): see docs/hostile.md."""
