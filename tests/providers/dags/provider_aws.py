"""The AWS operators MWAA users run most, unchanged, against moto: S3 -> sensor -> copy, hooks in
@task code (S3Hook, SecretsManagerHook), SQS publish -> sensor, SNS, Lambda. Names come from the
run's conf so that tests sharing one moto server do not collide."""

import json
from datetime import datetime

from airflow import DAG
from airflow.decorators import task
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.hooks.secrets_manager import SecretsManagerHook
from airflow.providers.amazon.aws.operators.lambda_function import LambdaInvokeFunctionOperator
from airflow.providers.amazon.aws.operators.s3 import S3CopyObjectOperator, S3CreateObjectOperator
from airflow.providers.amazon.aws.operators.sns import SnsPublishOperator
from airflow.providers.amazon.aws.operators.sqs import SqsPublishOperator
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.providers.amazon.aws.sensors.sqs import SqsSensor

BUCKET = "{{ dag_run.conf['bucket'] }}"

with DAG("provider_aws", start_date=datetime(2024, 1, 1), schedule=None, catchup=False) as dag:
    create = S3CreateObjectOperator(task_id="create", s3_bucket=BUCKET, s3_key="in/{{ ds }}.txt",
                                    data="hello {{ ds }}", replace=True)
    sense = S3KeySensor(task_id="sense", bucket_name=BUCKET, bucket_key="in/{{ ds }}.txt", poke_interval=1,
                        timeout=60)
    copy = S3CopyObjectOperator(task_id="copy", source_bucket_name=BUCKET, source_bucket_key="in/{{ ds }}.txt",
                                dest_bucket_name=BUCKET, dest_bucket_key="out/{{ ds }}.txt")
    publish = SqsPublishOperator(task_id="publish", sqs_queue="{{ dag_run.conf['queue_url'] }}",
                                 message_content="msg {{ ds }}")
    receive = SqsSensor(task_id="receive", sqs_queue="{{ dag_run.conf['queue_url'] }}", max_messages=1,
                        num_batches=1, poke_interval=1, timeout=60)
    notify = SnsPublishOperator(task_id="notify", target_arn="{{ dag_run.conf['topic_arn'] }}",
                                message="done {{ ds }}")
    invoke = LambdaInvokeFunctionOperator(task_id="invoke", function_name="{{ dag_run.conf['function'] }}",
                                          payload=json.dumps({"ds": "{{ ds }}"}))

    @task
    def use_hooks(**context):
        conf = context["dag_run"].conf
        s3 = S3Hook(aws_conn_id="aws_default")
        body = s3.read_key("out/" + context["ds"] + ".txt", bucket_name=conf["bucket"])
        secret = SecretsManagerHook(aws_conn_id="aws_default").get_secret(conf["secret"])
        s3.load_string(body + "|" + secret, key="hooks/result.txt", bucket_name=conf["bucket"], replace=True)
        return body

    @task
    def received(**context):
        messages = context["ti"].xcom_pull(task_ids="receive", key="messages")
        s3 = S3Hook()
        s3.load_string(json.dumps([m["Body"] for m in messages]), key="sqs/received.json",
                       bucket_name=context["dag_run"].conf["bucket"], replace=True)

    @task
    def invoked(**context):
        S3Hook().load_string(str(context["ti"].xcom_pull(task_ids="invoke")), key="lambda/response.txt",
                             bucket_name=context["dag_run"].conf["bucket"], replace=True)

    create >> sense >> copy >> use_hooks() >> publish >> receive >> received() >> notify >> invoke >> invoked()
