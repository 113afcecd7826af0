"""Follow each cluster's own kube-system/aws-auth when kubegate has credentials for its API server.

Every change becomes a new stored aws-auth version (so snapshots rebuild as for
`kubegate awsauth set`); an invalid ConfigMap is logged and the previous version keeps
serving, as a real cluster keeps its last good mapping.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from cryptography.fernet import Fernet

from kubegate.domain.clusters import Cluster
from kubegate.domain.errors import DomainError
from kubegate.service.access import AccessService
from kubegate.service.aws_auth_watch import AwsAuthWatcher

log = logging.getLogger("kubegate.aws-auth")
ABSENT = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: aws-auth, namespace: kube-system}\ndata: {}\n"

WatcherFactory = Callable[..., AwsAuthWatcher]


class LiveAwsAuth:
    def __init__(self, service: AccessService, cipher: Fernet, watcher: WatcherFactory = AwsAuthWatcher) -> None:
        self.service = service
        self.cipher = cipher
        self.watcher = watcher
        self._running: dict[str, tuple[tuple[str, str | None, bytes], AwsAuthWatcher]] = {}

    def sync(self) -> None:
        """Start, restart or stop watchers so they match the clusters' recorded credentials."""
        wanted = {c.name: c for c in self.service.clusters_with_credentials()}
        for name in list(self._running):
            settings, watcher = self._running[name]
            cluster = wanted.get(name)
            if cluster is None or self._settings(cluster) != settings:
                watcher.stop()
                del self._running[name]
        for name, cluster in wanted.items():
            if name not in self._running:
                self._start(cluster)

    def stop(self) -> None:
        for _, watcher in self._running.values():
            watcher.stop()
        self._running.clear()

    @staticmethod
    def _settings(cluster: Cluster) -> tuple[str, str | None, bytes]:
        assert cluster.endpoint and cluster.api_token_ciphertext
        return cluster.endpoint, cluster.certificate_authority, cluster.api_token_ciphertext

    def _start(self, cluster: Cluster) -> None:
        settings = self._settings(cluster)
        name = cluster.name

        def on_change(document: str | None, resource_version: str) -> None:
            source = f"cluster:kube-system/aws-auth@{resource_version or '-'}"
            try:
                version = self.service.set_aws_auth(name, document or ABSENT, source)
                log.info("cluster %s: aws-auth from the cluster stored as version %d", name, version)
            except DomainError as exc:
                log.error("cluster %s: the cluster's aws-auth is invalid, keeping the previous: %s", name, exc.message)

        def on_error(message: str) -> None:
            log.warning("%s", message)

        watcher = self.watcher(
            cluster=name, server=settings[0], certificate_authority=settings[1],
            token=self.cipher.decrypt(settings[2]).decode(), on_change=on_change, on_error=on_error,
        )
        watcher.start()
        self._running[name] = (settings, watcher)
