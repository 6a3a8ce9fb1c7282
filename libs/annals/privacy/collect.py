"""Assembles the erasure report of one subject from every place (annals privacy report)."""

from __future__ import annotations

from annals.privacy.places import key_finding, read_model_findings, store_findings
from annals.privacy.report import Report
from annals.privacy.sources import Sources, personal_names, subject_streams
from annals.privacy.topics import topic_findings


async def report(subject: str, sources: Sources | None = None) -> Report:
    """Where the subject's data lives and whether it can still be read, place by place."""
    sources = sources or Sources.of()
    streams, names = subject_streams(subject), personal_names()
    found, key, forgotten = await key_finding(sources, subject)
    out = Report(subject, [found])
    out.findings += await store_findings(sources, subject, streams, names, key, forgotten)
    out.findings += await read_model_findings(sources, subject, streams, names, key)
    out.findings += await topic_findings(sources, subject, streams, names, key)
    return out
