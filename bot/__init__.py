"""etl-triage: triage failed ETL jobs into data, infra or code issues, with evidence."""

__version__ = "0.1.0"
