"""Prometheus metrics of publishers and subscribers: progress, restarts, leadership, the DLQ.

Families are created once per process (prometheus_client refuses a second registration of a
name); publishers are labelled by service and publisher name, subscribers by consumer group.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

PUBLISHER_LEADER = Gauge(
    "annals_publisher_leader",
    "1 while this process holds the publisher's advisory lock (is the active relay)",
    ["service", "publisher"],
)
PUBLISHER_SINCE_PUBLISH = Gauge(
    "annals_publisher_seconds_since_publish",
    "Seconds since this process last published a batch (or since it started)",
    ["service", "publisher"],
)
PUBLISHER_EVENTS = Counter(
    "annals_publisher_events",
    "Events published and acknowledged by Kafka",
    ["service", "publisher"],
)
PUBLISHER_RESTARTS = Counter(
    "annals_publisher_restarts",
    "Relay restarts after an error, by exception class",
    ["service", "publisher", "error"],
)
SUBSCRIBER_RECORDS = Counter(
    "annals_subscriber_records",
    "Records seen by subscribers, by outcome (handled, duplicate, dead_lettered, retried)",
    ["group", "outcome"],
)
SUBSCRIBER_DEAD_LETTERS = Counter(
    "annals_subscriber_dead_letters",
    "Records sent to the group's DLQ, by reason",
    ["group", "reason"],
)
SUBSCRIBER_CONFLICTS = Counter(
    "annals_subscriber_version_conflicts",
    "Records whose (stream, version) was handled before under another event id (an alarm)",
    ["group"],
)
SUBSCRIBER_RESTARTS = Counter(
    "annals_subscriber_restarts",
    "Subscriber restarts after an error, by exception class",
    ["group", "error"],
)
SUBSCRIBER_PARKED = Gauge(
    "annals_subscriber_parked_streams",
    "Streams whose later records go to the DLQ because an earlier one is there",
    ["group"],
)
SUBSCRIBER_LAST_PROGRESS = Gauge(
    "annals_subscriber_last_progress_timestamp_seconds",
    "Unix time of the subscriber's last handled or dead-lettered record",
    ["group"],
)
