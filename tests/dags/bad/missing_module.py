from airflow import DAG
import pandas_that_does_not_exist  # noqa

dag = DAG("missing_module", schedule=None)
