"""The cluster report's I/O: kubeconfig as kubectl reads it, and paged list calls only.

Each list is read in pages (`limit`/`continue`) as raw JSON and each page is dropped once its
objects are fed to the `Tally`, which keeps a few fields of each: memory follows the number of
workloads, not the size of the cluster's objects. The calls go straight through the official
client's `ApiClient` (credentials, TLS, proxies), not its generated API classes (slow to import,
and they would build a model object per item), and not the watch caches, which are the server's
(watches, budgets) and not what a one-shot pass needs. `reload-safe report` and the rollout
controller's report pass (Reports and state metrics) both read the cluster through `fill`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from webhook.clusterreport import Tally
from webhook.manifests.configmaps import ConfigMapError, configmap_content
from webhook.manifests.secrets import secret_digests
from webhook.policy import ConfigMapContent, SecretContent
from webhook.policy.secrets import SecretDataError

PAGE_SIZE: Final = 500
REQUEST_TIMEOUT: Final = (5.0, 60.0)
"""Connect, read (seconds): an unreachable cluster is reported in seconds, not minutes."""


@dataclass(frozen=True, slots=True)
class Listed:
    """One list call: the kind it returns and its API group path."""

    kind: str
    group_path: str
    resource: str


WORKLOAD_LISTS: Final = (
    Listed("Deployment", "/apis/apps/v1", "deployments"),
    Listed("StatefulSet", "/apis/apps/v1", "statefulsets"),
    Listed("DaemonSet", "/apis/apps/v1", "daemonsets"),
    Listed("ReplicaSet", "/apis/apps/v1", "replicasets"),
    Listed("ReplicationController", "/api/v1", "replicationcontrollers"),
    Listed("CronJob", "/apis/batch/v1", "cronjobs"),
    Listed("Job", "/apis/batch/v1", "jobs"),
)
"""Every workload kind but Pod; pods come last, once every owner chain is known."""
CONFIGMAPS: Final = Listed("ConfigMap", "/api/v1", "configmaps")
NAMESPACES: Final = Listed("Namespace", "/api/v1", "namespaces")
SECRETS: Final = Listed("Secret", "/api/v1", "secrets")
SECRET_SELECTOR: Final = "type!=kubernetes.io/service-account-token,type!=helm.sh/release.v1"
"""As the server's watch: Secret types that pods never consume are not read."""
PODS: Final = Listed("Pod", "/api/v1", "pods")


class ClusterError(Exception):
    """The cluster cannot be read: unreachable, refused, or no usable kubeconfig. The message is
    a sentence for a person, never a library's class name."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Connection:
    api: client.ApiClient
    server: str
    namespace: str
    """The kubeconfig context's namespace (`default` when it names none), as kubectl uses it."""


def connect(*, kubeconfig: str | None, context: str | None) -> Connection:
    """An API client and the context's namespace, from the kubeconfig kubectl would read
    (`--kubeconfig`, else `$KUBECONFIG`, else `~/.kube/config`)."""
    configuration = client.Configuration()
    try:
        config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)  # type: ignore[no-untyped-call]
        contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError, ValueError) as error:
        raise ClusterError(f"cannot use the kubeconfig: {error}") from error
    chosen = next((c for c in contexts or [] if c.get("name") == context), None) if context else active
    namespace = (chosen or {}).get("context", {}).get("namespace") or "default"
    configuration.retries = 1  # one retry of a dropped connection, not urllib3's three
    return Connection(api=client.ApiClient(configuration), server=str(configuration.host), namespace=namespace)


def fill(
    *, conn: Connection, namespace: str | None, hash_key: bytes | None = None, page_size: int = PAGE_SIZE
) -> Tally:
    """Read ConfigMaps (and Secrets, as keyed digests, with `hash_key`), then every workload
    kind, then pods, in that order (see `Tally`). `namespace` None reads all namespaces."""
    configmaps: dict[str, dict[str, ConfigMapContent]] = {}
    for obj in paged(conn, listed=CONFIGMAPS, namespace=namespace, limit=page_size):
        try:
            ns, content = configmap_content(obj)
        except ConfigMapError:
            continue  # the API server validated it; an unreadable one cannot be consumed either
        configmaps.setdefault(ns or "", {})[content.name] = content
    secrets: dict[str, dict[str, SecretContent]] | None = None
    if hash_key is not None:
        secrets = {}
        for obj in paged(conn, listed=SECRETS, namespace=namespace, limit=page_size, field_selector=SECRET_SELECTOR):
            try:
                ns, digests = secret_digests(obj, hash_key=hash_key)
            except SecretDataError:
                continue
            secrets.setdefault(ns or "", {})[digests.name] = digests
    tally = Tally(configmaps=configmaps, secrets=secrets)
    for listed in WORKLOAD_LISTS:
        for obj in paged(conn, listed=listed, namespace=namespace, limit=page_size):
            tally.add_workload(obj, kind=listed.kind)
    for pod in paged(conn, listed=PODS, namespace=namespace, limit=page_size):
        tally.add_pod(pod)
    return tally


def namespaces(conn: Connection) -> list[str]:
    """Every namespace's name (paged)."""
    return [str(ns["metadata"]["name"]) for ns in paged(conn, listed=NAMESPACES, namespace=None)]


def paged(
    conn: Connection,
    *,
    listed: Listed,
    namespace: str | None,
    limit: int = PAGE_SIZE,
    field_selector: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Every item of one list, a page at a time (`limit`, then `continue` until it is empty)."""
    where = f"/namespaces/{namespace}" if namespace else ""
    path = f"{listed.group_path}{where}/{listed.resource}"
    token: str | None = None
    while True:
        query: list[tuple[str, Any]] = [("limit", limit)]
        if field_selector:
            query.append(("fieldSelector", field_selector))
        if token:
            query.append(("continue", token))
        page = _get(conn, path=path, query=query, what=f"{listed.resource} {_scope(namespace)}")
        items = page.get("items") or []
        yield from items
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return


def _get(conn: Connection, *, path: str, query: list[tuple[str, Any]], what: str) -> Mapping[str, Any]:
    request = conn.api.param_serialize(
        method="GET",
        resource_path=path,
        query_params=query,
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
    )
    try:
        answer = conn.api.call_api(*request, _request_timeout=REQUEST_TIMEOUT)
        body = answer.read()  # type: ignore[no-untyped-call]
    except (HTTPError, OSError) as error:
        raise ClusterError(f"cannot reach the Kubernetes API server at {conn.server}: {_reason(error)}") from error
    except ApiException as error:  # raised by some client versions for non-2xx answers
        raise ClusterError(_refused(what, error.status, str(error.reason))) from error
    if not 200 <= answer.status <= 299:
        raise ClusterError(_refused(what, answer.status, _status_message(body)))
    page: Mapping[str, Any] = json.loads(body)
    return page


def _refused(what: str, status: int | None, message: str) -> str:
    return f"the API server refused to list {what} (HTTP {status}): {message}"


def _status_message(body: bytes) -> str:
    """The `message` of a `Status` answer: what the API server says in words."""
    try:
        status = json.loads(body)
    except ValueError:
        return "no explanation given"
    message = status.get("message") if isinstance(status, dict) else None
    return message if isinstance(message, str) and message else "no explanation given"


def _reason(error: BaseException) -> str:
    """The innermost cause in words (`Connection refused`), not urllib3's layered class names."""
    reason: BaseException = error
    while True:
        inner = getattr(reason, "reason", None)
        if isinstance(inner, BaseException) and inner is not reason:
            reason = inner
            continue
        break
    text = str(reason)
    if "Errno" in text and "]" in text:
        text = text.rsplit("]", 1)[1].strip()
    return text or "no answer"


def _scope(namespace: str | None) -> str:
    return f'in namespace "{namespace}"' if namespace else "in all namespaces"
