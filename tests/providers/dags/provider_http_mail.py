"""HttpSensor -> HttpOperator -> EmailOperator and a Slack webhook (operator and notifier), all from
the real http, smtp and slack providers, against servers on loopback."""

from datetime import datetime

from airflow import DAG
from airflow.providers.http.operators.http import HttpOperator
from airflow.providers.http.sensors.http import HttpSensor
from airflow.providers.slack.notifications.slack_webhook import send_slack_webhook_notification
from airflow.providers.slack.operators.slack_webhook import SlackWebhookOperator
from airflow.providers.smtp.operators.smtp import EmailOperator

with DAG("provider_http_mail", start_date=datetime(2024, 1, 1), schedule=None, catchup=False) as dag:
    ready = HttpSensor(task_id="ready", http_conn_id="web", endpoint="health", poke_interval=1, timeout=30)
    post = HttpOperator(task_id="post", http_conn_id="web", endpoint="items", method="POST",
                        data='{"ds": "{{ ds }}"}', headers={"Content-Type": "application/json"},
                        response_filter=lambda r: r.json())
    mail = EmailOperator(task_id="mail", conn_id="mail", to="ops@example.com", from_email="windsock@example.com",
                         subject="run {{ ds }}", html_content="<b>{{ ti.xcom_pull('post')['id'] }}</b>",
                         on_success_callback=send_slack_webhook_notification(
                             slack_webhook_conn_id="slack", text="mailed {{ ds }}"))
    slack = SlackWebhookOperator(task_id="slack", slack_webhook_conn_id="slack",
                                 message="item {{ ti.xcom_pull('post')['id'] }} of {{ ds }}")
    ready >> post >> [mail, slack]
