"""One private SQS queue per container, subscribed to the bucket's SNS topic of S3 events.

With one shared queue each event wakes only the container that received it; the others
wait for their reconcile. With ``WINDSOCK_SYNC_TOPIC_ARN`` every container creates its own
queue at start (S3 -> SNS -> one queue each), so each reacts within a second, and deletes
it at stop. A container killed without ``stop()`` leaves its queue behind: queues carry a
heartbeat tag refreshed at every reconcile, and a starting container removes queues of the
same topic whose heartbeat is long stale.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

log = logging.getLogger("dag_sync.fanout")
HEARTBEAT_TAG = "windsock:sync-heartbeat"


def queue_prefix(topic_arn: str) -> str:
    """Name prefix of the private queues of one topic (so reaping stays within it)."""
    return f"windsock-sync-{hashlib.sha256(topic_arn.encode()).hexdigest()[:10]}-"


def is_stale(tags: dict[str, str], now: float, max_age: float) -> bool:
    """True when a queue's heartbeat tag is missing, unreadable or older than ``max_age``."""
    try:
        return now - float(tags[HEARTBEAT_TAG]) > max_age
    except (KeyError, ValueError):
        return True


class PrivateQueue:
    """Creates, subscribes, heartbeats and deletes this container's queue."""

    def __init__(self, sqs: Any, sns: Any, topic_arn: str, clock: Callable[[], float] = time.time) -> None:
        self.sqs = sqs
        self.sns = sns
        self.topic_arn = topic_arn
        self.clock = clock
        self.url = ""
        self.subscription = ""

    def create(self) -> str:
        """Create the queue, allow the topic to send to it, subscribe it; returns its URL."""
        name = queue_prefix(self.topic_arn) + uuid.uuid4().hex[:12]
        self.url = self.sqs.create_queue(QueueName=name, Attributes={"MessageRetentionPeriod": "600"},
                                         tags={HEARTBEAT_TAG: str(self.clock())})["QueueUrl"]
        arn = self._arn(self.url)
        self.sqs.set_queue_attributes(QueueUrl=self.url, Attributes={"Policy": self._policy(arn)})
        self.subscription = self.sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=arn,
                                               Attributes={"RawMessageDelivery": "true"},
                                               ReturnSubscriptionArn=True)["SubscriptionArn"]
        return self.url

    def heartbeat(self) -> None:
        """Refresh the heartbeat tag so other containers do not reap this queue."""
        self.sqs.tag_queue(QueueUrl=self.url, Tags={HEARTBEAT_TAG: str(self.clock())})

    def delete(self) -> None:
        """Unsubscribe and delete the queue (at container stop)."""
        if self.subscription:
            self.sns.unsubscribe(SubscriptionArn=self.subscription)
        if self.url:
            self.sqs.delete_queue(QueueUrl=self.url)
        self.url = self.subscription = ""

    def reap_orphans(self, max_age: float) -> list[str]:
        """Delete this topic's queues (and subscriptions) whose heartbeat is older than ``max_age``."""
        urls = self.sqs.list_queues(QueueNamePrefix=queue_prefix(self.topic_arn)).get("QueueUrls", [])
        doomed = [u for u in urls if u != self.url and self._stale(u, max_age)]
        arns = {self._arn(u) for u in doomed}
        for sub in self._subscriptions():
            if sub.get("Endpoint") in arns:
                self.sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
        for url in doomed:
            log.info("removing orphaned sync queue %s", url)
            self.sqs.delete_queue(QueueUrl=url)
        return doomed

    def _stale(self, url: str, max_age: float) -> bool:
        """True when the queue at ``url`` has a stale heartbeat."""
        return is_stale(self.sqs.list_queue_tags(QueueUrl=url).get("Tags", {}), self.clock(), max_age)

    def _subscriptions(self) -> list[dict[str, Any]]:
        """Every subscription of the topic."""
        pages = self.sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=self.topic_arn)
        return [sub for page in pages for sub in page.get("Subscriptions", [])]

    def _arn(self, url: str) -> str:
        """The ARN of a queue."""
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attrs["Attributes"]["QueueArn"])

    def _policy(self, queue_arn: str) -> str:
        """Queue policy letting only our topic send to the queue."""
        return json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": self.topic_arn}}}]})
