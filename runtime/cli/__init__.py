"""The ``windsock`` command line: Airflow's verbs, one module per command group."""
