"""Where a subject's personal data lives, and whether it can still be read (docs/rules.md)."""

from annals.privacy.report import ABSENT, READABLE, UNKNOWN, UNREADABLE, WIPED, Finding, Report

__all__ = ["ABSENT", "READABLE", "UNKNOWN", "UNREADABLE", "WIPED", "Finding", "Report"]
