from airflow import DAG

with DAG("syntax_error", schedule=None) as dag:
    x = (1,
