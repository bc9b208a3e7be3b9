from airflow import DAG
from airflow.providers.amazon.aws.operators.emr import EmrAddStepsOperator  # noqa

dag = DAG("unsupported_import", schedule=None)
