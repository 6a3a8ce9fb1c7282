"""The query API as the platform sees it (entry point `annals.services: query`)."""

from annals.topology import Service

SERVICE = Service(
    name="query",
    kind="query",
    app="query.app:create_app",
    settings="query.settings:QuerySettings",
    scopes=("read", "read:pii"),
    database="readmodels",
    owner_role="readmodels_owner",
    app_role="query_app",
    read_models=True,
)
