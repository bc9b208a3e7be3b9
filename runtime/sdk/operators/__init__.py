"""Operators shipped with Windsock (Airflow's core and standard-provider operators)."""
