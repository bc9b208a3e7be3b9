"""Windsock: an MWAA-like orchestrator that runs Apache Airflow DAG files unchanged."""

__version__ = "0.1.0"
