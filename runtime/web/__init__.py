"""The web server: the UI and the Airflow-compatible REST API over the metadata database."""
