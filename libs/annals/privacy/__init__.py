"""Where a data subject's personal data lives, and whether it can still be read (DESIGN §8)."""

from annals.privacy.report import ABSENT, READABLE, UNKNOWN, UNREADABLE, WIPED, Finding, Report

__all__ = ["ABSENT", "READABLE", "UNKNOWN", "UNREADABLE", "WIPED", "Finding", "Report"]
