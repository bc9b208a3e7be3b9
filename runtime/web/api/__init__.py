"""Airflow 3's public REST API (``/api/v2``): same paths, field names, pagination and errors."""
