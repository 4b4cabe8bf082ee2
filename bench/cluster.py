"""Phases 2 and 3, on the real control plane (tests/envtest): memory, then end-to-end latency.

**Memory.** `count` ConfigMaps of `configmap_bytes` each are created through the API server
(16 client threads), then `reload-safe serve --source cluster` is started exactly as the e2e
tests start it (`tests/e2e/webhook_process.WebhookServer`: production defaults, one worker),
lists them into its in-process cache and reports ready. Its /metrics must show every ConfigMap
cached before its memory is read from /proc (after a short settle, and again after the
end-to-end load): the pod's resident set (every page of the gunicorn master and its worker,
counted once), and the RSS and PSS of each process. See `procs.ServerMemory`.

**End-to-end.** Deployments are created one at a time through the API server in four
conditions, each in a namespace of its own (labelled `warn`, with the same 20 ConfigMaps):
*without*: no webhook is called; *null*: the chart's Mutating and Validating
WebhookConfigurations (`render_webhook_configurations`, as the e2e tests do) pointed at the
**null webhook** (bench/nullapp.py: the same Python stack, deciding nothing); *null_patching*:
the same, pointed at the null webhook's patching routes (its /mutate also returns a constant
one-operation JSONPatch); *ours*: the chart's configurations as rendered, calling reload-safe.
The three sets are registered side by side under different names, each narrowed by one more
`namespaceSelector` term to its condition's namespace, and stay registered for the whole
phase. Each Deployment is created in all four namespaces, one after the other, the order
rotating, so the conditions are interleaved create by create and share every disturbance of
the machine (an earlier design took turns in blocks of 100, and a few bursts of slow creates
falling in one block decided its p95). Before timing, a dry-run canary confirms each condition
(the API server's `apiserver_admission_webhook_request_total` moves for the three with
webhooks, and not for *without*; in *ours* the canary must also be warned), and a few
unmeasured rounds warm the connections. In *ours* each create is mutated (config hash) and
most are warned: the full path, twice (mutate + validate). *null* is the floor of any webhook
on this stack: the API server's own cost of calling out, TLS, gunicorn, Flask and JSON.
*null_patching* is the floor of any webhook that mutates: it adds what the API server spends
applying a patch. In *without*, as in the others, the API server matches its namespace against
six webhooks' selectors and calls none; the same creates made before anything was registered
are reported beside it (`none_registered_ms`).

**The server's own time.** For each measured create in *ours*, the `latency_ms` of its two
audit lines (mutating and validating; each timed from the start of the Flask view, before the
body is read, until the audit line is built) are added up (`server_ms_per_create`): what
reload-safe's Python spends per create, in place, beside what the create costs end to end.
gunicorn's parsing and sending, Flask's dispatch, the audit write and the metrics are outside
it; the null conditions pay the first three too, the last two are reload-safe's alone.
"""

from __future__ import annotations

import base64
import copy
import http.client
import json
import random
import re
import ssl
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from bench import procs, servers, workloads
from bench.null_server import PATCHING_PREFIX
from tests.e2e.kube import Kube
from tests.e2e.webhook_process import WebhookServer, register, render_webhook_configurations, unregister
from tests.envtest import ControlPlane, free_port, new_namespace
from tests.support.polling import eventually
from webhook.certs.dev import ensure_dev_certificates

CANARY = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "canary"},
    "spec": {"containers": [{"name": "c", "image": "x", "envFrom": [{"configMapRef": {"name": "canary"}}]}]},
}
WARMUP_CREATES = 5
POOL_SIZE: Final = 20
"""ConfigMaps in each end-to-end namespace, which the Deployments refer to."""
CONDITION_LABEL: Final = "bench.reload-safe.io/condition"
CONDITIONS: Final = ("without", "null", "null_patching", "ours")
"""The end-to-end conditions, one namespace each (see the module docstring)."""
CREATE_THREADS = 16


@dataclass(frozen=True, kw_only=True)
class ClusterSizes:
    configmaps: int
    configmap_bytes: int
    configmap_namespaces: int
    e2e_creates: int
    """Per condition."""
    secrets: int = 0
    """Secrets of `secret_bytes` for `rss_mib_10k_secrets` (0: not measured)."""
    secret_bytes: int = 1024


@dataclass(kw_only=True)
class ClusterResults:
    configmaps_cached: int
    create_seconds: float
    memory_synced: procs.ServerMemory
    memory_after_load: procs.ServerMemory
    without_ms: list[float]
    """No webhook called: the namespace matches none of the registered configurations."""
    none_registered_ms: list[float]
    """No webhook configuration registered at all (measured before the others, for reference)."""
    null_ms: list[float]
    """With the null webhook registered instead (the floor of the stack)."""
    null_patching_ms: list[float]
    """With the null webhook's patching routes: the floor of a webhook that mutates."""
    with_ms: list[float]
    server_ms: list[float]
    """reload-safe's own time per create in *ours*: its two audit lines' `latency_ms`, added."""
    warned_creates: int
    apiserver_version: str
    secrets_cached: int = 0
    memory_with_secrets: procs.ServerMemory | None = None
    """A second server, with the hash key, over the same ConfigMaps and `secrets` Secrets."""


def run(*, sizes: ClusterSizes, work_dir: Path, seed: int, log: Any) -> ClusterResults:
    rng = random.Random(seed)
    # No kube-controller-manager: the ReplicaSets and Pods it would make from every timed
    # Deployment would load the machine and the webhook in the middle of the measurement.
    with ControlPlane(work_dir=work_dir / "controlplane", controller_manager=False) as cp:
        log(f"  control plane {cp.apiserver_version()} at {cp.url}")
        started = time.monotonic()
        _create_configmaps(cp, sizes=sizes, rng=rng)
        create_seconds = time.monotonic() - started
        log(f"  created {sizes.configmaps} ConfigMaps of {sizes.configmap_bytes} B in {create_seconds:.1f}s")
        kube = Kube(cp.api_client())
        server = WebhookServer(kubeconfig=cp.kubeconfig_path, work_dir=work_dir / "webhook")
        (work_dir / "webhook").mkdir(exist_ok=True)
        null = _null_server(work_dir / "null")
        server.start(timeout=180)
        try:
            cached, synced = _synced_memory(server, expected=sizes.configmaps)
            log(f"  memory with {cached} ConfigMaps cached: {_describe(synced)}")
            null.start()
            timings = _end_to_end(cp, kube, server, null, sizes=sizes, rng=rng, log=log)
            assert server.process is not None
            after = procs.server_memory(server.process.pid)
            log(f"  memory after the end-to-end load: {_describe(after)}")
        finally:
            null.stop()
            server.stop()
        secrets_cached, with_secrets = 0, None
        if sizes.secrets:
            secrets_cached, with_secrets = _secrets_memory(cp, sizes=sizes, rng=rng, work_dir=work_dir)
            log(f"  memory with {secrets_cached} Secrets and the ConfigMaps cached: {_describe(with_secrets)}")
        return ClusterResults(
            secrets_cached=secrets_cached,
            memory_with_secrets=with_secrets,
            configmaps_cached=cached,
            create_seconds=round(create_seconds, 1),
            memory_synced=synced,
            memory_after_load=after,
            without_ms=timings.without,
            none_registered_ms=timings.none_registered,
            null_ms=timings.null,
            null_patching_ms=timings.null_patching,
            with_ms=timings.ours,
            server_ms=server_ms_per_create(
                server.audit_records(), namespace=timings.ours_namespace, names=timings.ours_names
            ),
            warned_creates=timings.warned,
            apiserver_version=cp.apiserver_version(),
        )


def _secrets_memory(
    cp: ControlPlane, *, sizes: ClusterSizes, rng: random.Random, work_dir: Path
) -> tuple[int, procs.ServerMemory]:
    """`rss_mib_10k_secrets`: Secrets of `secret_bytes` (in four keys, as the ConfigMaps), then a
    server with the hash key over them and the same ConfigMaps; its memory once both are cached."""
    namespaces = [new_namespace(cp.api_client(), prefix="bench-secret") for _ in range(sizes.configmap_namespaces)]
    bodies = []
    for i in range(sizes.secrets):
        data = workloads.sized_configmap(rng=rng, name="x", namespace="x", size=sizes.secret_bytes)["data"]
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"secret-{i}", "namespace": namespaces[i % len(namespaces)]},
            "stringData": data,
        }
        bodies.append(json.dumps(secret).encode())
    _post_all(cp, bodies, resource="secrets")
    key_file = work_dir / "hash-key"
    key_file.write_text("bench-hash-key-0123456789abcdef-0123456789abcdef\n")
    server = WebhookServer(
        kubeconfig=cp.kubeconfig_path,
        work_dir=work_dir / "webhook-secrets",
        extra_args=("--hash-key-file", str(key_file)),
    )
    (work_dir / "webhook-secrets").mkdir(exist_ok=True)
    server.start(timeout=180)
    try:
        cached = _cached(server, "secrets")
        if cached < sizes.secrets:
            raise RuntimeError(f"only {cached} Secrets cached, expected at least {sizes.secrets}")
        _, memory = _synced_memory(server, expected=sizes.configmaps)
        return cached, memory
    finally:
        server.stop()


def _synced_memory(server: WebhookServer, *, expected: int) -> tuple[int, procs.ServerMemory]:
    """Once /metrics shows the whole cache and start-up garbage has settled (as a pod would
    before its first scrape): the ConfigMaps cached and the memory of each process."""
    cached = _cached_configmaps(server)
    if cached < expected:
        raise RuntimeError(f"only {cached} ConfigMaps cached, expected at least {expected}")
    time.sleep(2.0)
    assert server.process is not None
    return cached, procs.server_memory(server.process.pid)


def _describe(memory: procs.ServerMemory) -> str:
    each = ", ".join(f"{m.role} {m.rss_mib:.0f}" for m in memory.processes)
    resident = "unreadable" if memory.resident_mib is None else f"{memory.resident_mib:.0f} MiB"
    return f"resident {resident}; RSS sum {memory.rss_sum_mib:.0f} MiB ({each}); PSS {memory.pss_mib:.0f} MiB"


def _create_configmaps(cp: ControlPlane, *, sizes: ClusterSizes, rng: random.Random) -> list[str]:
    """POST the ConfigMaps over keep-alive connections, one per thread (client certificate);
    returns their namespaces (ConfigMap `cm-i` is in the `i % len`-th)."""
    namespaces = [new_namespace(cp.api_client(), prefix="bench-cm") for _ in range(sizes.configmap_namespaces)]
    bodies = [
        json.dumps(
            workloads.sized_configmap(
                rng=rng, name=f"cm-{i}", namespace=namespaces[i % len(namespaces)], size=sizes.configmap_bytes
            )
        ).encode()
        for i in range(sizes.configmaps)
    ]
    _post_all(cp, bodies, resource="configmaps")
    return namespaces


def _post_all(cp: ControlPlane, bodies: list[bytes], *, resource: str) -> None:
    """POST each body (JSON with metadata.namespace) over keep-alive connections, one per thread
    (client certificate), retrying throttled or dropped requests."""
    context = ssl.create_default_context(cafile=str(cp.ca_file))
    context.load_cert_chain(str(cp.client_cert_file), str(cp.client_key_file))
    host, port = cp.url.removeprefix("https://").rsplit(":", 1)
    local = threading.local()

    def post(body: bytes) -> None:
        namespace = json.loads(body)["metadata"]["namespace"]
        for attempt in range(5):
            connection = getattr(local, "connection", None)
            if connection is None:
                connection = local.connection = http.client.HTTPSConnection(
                    host, int(port), context=context, timeout=30
                )
            try:
                connection.request(
                    "POST",
                    f"/api/v1/namespaces/{namespace}/{resource}",
                    body=body,
                    headers={"Content-Type": "application/json"},
                )
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                local.connection = None
                continue
            if response.status in (201, 409):  # 409: a retried create that had landed
                return
            if response.status != 429 or attempt == 4:
                raise RuntimeError(f"{resource} create answered {response.status}")
            time.sleep(0.2)

    with ThreadPoolExecutor(CREATE_THREADS) as pool:
        list(pool.map(post, bodies))


def _cached_configmaps(server: WebhookServer) -> int:
    return _cached(server, "configmaps")


def _cached(server: WebhookServer, cache: str) -> int:
    """What /metrics says one cache holds."""
    status, text = server.get("/metrics")
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}")
    match = re.search(rf'^reload_safe_cache_objects\{{cache="{cache}"\}} ([0-9.e+]+)$', text, re.MULTILINE)
    return int(float(match.group(1))) if match else 0


@dataclass
class _Timings:
    none_registered: list[float] = field(default_factory=list)
    without: list[float] = field(default_factory=list)
    null: list[float] = field(default_factory=list)
    null_patching: list[float] = field(default_factory=list)
    ours: list[float] = field(default_factory=list)
    warned: int = 0
    ours_namespace: str = ""
    ours_names: list[str] = field(default_factory=list)
    """The measured Deployments, whose audit lines give the server's own time."""


def _null_server(work_dir: Path) -> servers.Server:
    work_dir.mkdir(parents=True, exist_ok=True)
    certs = ensure_dev_certificates(work_dir / "certs")
    return servers.null_webhook(
        port=free_port(),
        cert_file=certs.cert_file,
        key_file=certs.key_file,
        ca_file=certs.ca_file,
        log_file=work_dir / "null.log",
    )


def _pointed_at(
    configurations: list[dict[str, Any]], server: servers.Server, *, prefix: str = ""
) -> list[dict[str, Any]]:
    """The same webhook configurations, calling `server` (same paths, after `prefix`) with its CA."""
    ca_bundle = base64.b64encode(server.ca_file.read_bytes()).decode("ascii")
    moved = copy.deepcopy(configurations)
    for configuration in moved:
        for hook in configuration["webhooks"]:
            path = hook["clientConfig"]["url"].rsplit("/", 1)[1]
            hook["clientConfig"] = {"url": f"{server.url.rstrip('/')}{prefix}/{path}", "caBundle": ca_bundle}
    return moved


def _end_to_end(
    cp: ControlPlane,
    kube: Kube,
    server: WebhookServer,
    null: servers.Server,
    *,
    sizes: ClusterSizes,
    rng: random.Random,
    log: Any,
) -> _Timings:
    namespaces = {
        condition: new_namespace(
            kube.api,
            prefix=f"bench-e2e-{condition.replace('_', '-')}",
            labels={"reload-safe.io/policy": "warn", CONDITION_LABEL: condition},
        )
        for condition in CONDITIONS
    }
    pool = [workloads.sized_configmap(rng=rng, name=f"config-{i}", namespace="", size=1024) for i in range(POOL_SIZE)]
    for namespace in namespaces.values():
        for configmap in pool:
            _create(kube, {**configmap, "metadata": {**configmap["metadata"], "namespace": namespace}}, namespace)
    timings = _Timings(ours_namespace=namespaces["ours"])

    def deployment(index: int) -> dict[str, Any]:
        return workloads.deployment(
            rng, name=f"app-{index}", namespace=None, pool_size=POOL_SIZE, references=rng.randint(1, 6)
        )

    # For reference: the same creates before any webhook configuration exists.
    baseline = max(1, sizes.e2e_creates // 5)
    for index in range(WARMUP_CREATES + baseline):
        elapsed, _ = _create(kube, deployment(index), namespaces["without"])
        if index >= WARMUP_CREATES:
            timings.none_registered.append(elapsed)

    ours = render_webhook_configurations(helm=cp.binary("helm"), url=server.url, ca_bundle=server.ca_bundle)
    registered = [
        _only_in(_renamed(_pointed_at(ours, null), suffix="null"), condition="null"),
        _only_in(
            _renamed(_pointed_at(ours, null, prefix=PATCHING_PREFIX), suffix="null-patching"),
            condition="null_patching",
        ),
        _only_in(ours, condition="ours"),
    ]
    for configurations in registered:
        register(kube.api, configurations)
    for condition in (*CONDITIONS[1:], CONDITIONS[0]):  # "without" last: once the others are live
        _wait_for_webhook(cp, kube, namespaces[condition], called=condition != "without", warned=condition == "ours")
    try:
        for index in range(WARMUP_CREATES + sizes.e2e_creates):
            obj = deployment(baseline + WARMUP_CREATES + index)
            # The same Deployment in every condition, the order rotating so each condition
            # takes each place in turn: every disturbance of the machine is shared out evenly.
            shift = index % len(CONDITIONS)
            for condition in CONDITIONS[shift:] + CONDITIONS[:shift]:
                elapsed, was_warned = _create(kube, obj, namespaces[condition])
                if was_warned and condition != "ours":
                    raise RuntimeError(f"a create was warned in the {condition} condition")
                if index >= WARMUP_CREATES:
                    getattr(timings, condition).append(elapsed)
                    timings.warned += was_warned
            if index >= WARMUP_CREATES:
                timings.ours_names.append(obj["metadata"]["name"])
    finally:
        for configurations in registered:
            unregister(kube.api, configurations)
    log(
        f"  {len(timings.ours)} creates in each condition, interleaved: without a webhook, with the null webhook, "
        f"with the null webhook patching, with reload-safe ({timings.warned} warned); "
        f"{len(timings.none_registered)} before any was registered"
    )
    return timings


def server_ms_per_create(records: list[dict[str, Any]], *, namespace: str, names: list[str]) -> list[float]:
    """For each named create in `namespace`, the `latency_ms` of its mutating and its validating
    audit line, added. Every measured create must have both: a decision without its audit line
    would be a bug, and the figure would silently leave it out."""
    wanted = set(names)
    found: dict[tuple[str, str], float] = {}
    for record in records:
        if record.get("namespace") == namespace and record.get("name") in wanted:
            found[(record["name"], record["webhook"])] = float(record["latency_ms"])
    pairs = [(name, webhook) for name in names for webhook in ("mutating", "validating")]
    missing = [pair for pair in pairs if pair not in found]
    if missing:
        raise RuntimeError(f"{len(missing)} audit lines missing for measured creates, e.g. {missing[:3]}")
    return [found[(name, "mutating")] + found[(name, "validating")] for name in names]


def _create(kube: Kube, obj: dict[str, Any], namespace: str) -> tuple[float, bool]:
    """Milliseconds from request to answer, and whether the answer carried warnings."""
    started = time.perf_counter()
    answer = kube.create(obj, namespace=namespace)
    elapsed = (time.perf_counter() - started) * 1000
    if not answer.ok:
        raise RuntimeError(f"{obj['kind']} create answered {answer.status}: {answer.message}")
    return elapsed, bool(answer.warnings)


def _renamed(configurations: list[dict[str, Any]], *, suffix: str) -> list[dict[str, Any]]:
    """The configurations under new names, so several sets can be registered side by side."""
    for configuration in configurations:
        configuration["metadata"]["name"] += f"-{suffix}"
    return configurations


def _only_in(configurations: list[dict[str, Any]], *, condition: str) -> list[dict[str, Any]]:
    """The configurations with one more namespaceSelector term: the condition's namespace only."""
    narrowed = copy.deepcopy(configurations)
    for configuration in narrowed:
        for hook in configuration["webhooks"]:
            selector = hook.setdefault("namespaceSelector", {})
            selector.setdefault("matchExpressions", []).append(
                {"key": CONDITION_LABEL, "operator": "In", "values": [condition]}
            )
    return narrowed


def _webhook_calls(cp: ControlPlane) -> float:
    """Calls the API server has made, answered 200, to webhooks named like reload-safe's (its own
    counter: a webhook it cannot reach, e.g. for a certificate it refuses, does not count)."""
    context = ssl.create_default_context(cafile=str(cp.ca_file))
    context.load_cert_chain(str(cp.client_cert_file), str(cp.client_key_file))
    with urllib.request.urlopen(cp.url + "/metrics", context=context, timeout=10) as response:
        text = response.read().decode()
    pattern = (
        r'^apiserver_admission_webhook_request_total\{[^}]*code="200"'
        r'[^}]*name="[a-z]+\.reload-safe\.io"[^}]*\} ([0-9.e+]+)$'
    )
    return sum(float(value) for value in re.findall(pattern, text, re.MULTILINE))


def _wait_for_webhook(
    cp: ControlPlane, kube: Kube, namespace: str, *, called: bool, warned: bool, timeout: float = 30.0
) -> None:
    """The API server applies webhook configuration changes asynchronously: dry-run a canary
    until the webhooks are (or are no longer) called, and when `warned`, until it is warned."""

    def as_expected() -> bool:
        before = _webhook_calls(cp)
        answer = kube.create(CANARY, namespace=namespace, dry_run=True)
        was_called = _webhook_calls(cp) > before
        return was_called == called and bool(answer.warnings) == warned

    eventually(
        as_expected,
        timeout=timeout,
        interval=0.2,
        what=f"the API server {'calling' if called else 'not calling'} the webhook",
    )
