"""EC2 private DNS names from AWS, for `{{EC2PrivateDNSName}}` when kubegate fronts real EC2 nodes.

Offline, kubegate's own instance registry answers (`kubegate nodes register`); with AWS
behind it, DescribeInstances does, through boto3 and the server's AWS configuration.
Answers are remembered (a found name in kubegate's registry, a miss for a minute), so a
node's token does not cost an EC2 call per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("kubegate.ec2")
MISS_TTL = 60.0


class Ec2DnsResolver:
    def __init__(self, client: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client  # a boto3 EC2 client
        self.clock = clock
        self._misses: dict[str, float] = {}

    def private_dns_name(self, instance_id: str) -> str | None:
        missed = self._misses.get(instance_id)
        if missed is not None and self.clock() - missed < MISS_TTL:
            return None
        try:
            reservations = self.client.describe_instances(InstanceIds=[instance_id])["Reservations"]
        except Exception as exc:  # unknown instance, throttling, no credentials: refuse, with a reason in the log
            log.warning("EC2 DescribeInstances %s failed: %s", instance_id, exc)
            self._misses[instance_id] = self.clock()
            return None
        for reservation in reservations:
            for instance in reservation.get("Instances", []):
                if instance.get("InstanceId") == instance_id and instance.get("PrivateDnsName"):
                    return str(instance["PrivateDnsName"])
        self._misses[instance_id] = self.clock()
        return None
