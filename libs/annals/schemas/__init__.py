"""annals.schemas: JSON Schemas of the event models in schemas/, and their compatibility check."""
