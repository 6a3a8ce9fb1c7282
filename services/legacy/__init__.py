"""The legacy ERP: its own schema in `legacy_erp` and a simulator writing like the old app."""
