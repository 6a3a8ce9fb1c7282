"""The legacy ERP database, captured by Debezium (entry point `annals.sources: legacy`)."""

from annals.topology import Source

SOURCE = Source(
    name="legacy",
    connector="postgresql",
    database="legacy_erp",
    owner_role="legacy_app",
    prefix="legacy",
    setup="legacy.cli:prepare",
)
