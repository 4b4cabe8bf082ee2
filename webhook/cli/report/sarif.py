"""The report for code scanning: SARIF 2.1.0, as GitHub's `upload-sarif` action accepts it.

One rule per finding type, so alerts can be filtered and dismissed by type; a stable partial
fingerprint per finding, so an alert keeps its identity when lines move above it.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from webhook.cli.report.model import FINDING_TYPES, Judged, ScanReport
from webhook.manifests.loader import STDIN, Source
from webhook.policy import RELOAD_ANNOTATION, Violation

SCHEMA: Final = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
TOOL: Final = "reload-safe"
FINGERPRINT: Final = "reloadSafeFinding/v2"
"""Versioned: a change of what the hash covers must be a new key, not new values (v2 added the file)."""
STDIN_URI: Final = "stdin"

_FIXES: Final = (
    f"annotate the workload or its pod template with `{RELOAD_ANNOTATION}: rollout` (Deployment,"
    " StatefulSet, DaemonSet, CronJob; run a bare Pod, ReplicaSet, ReplicationController or Job from"
    " a Deployment instead); or consume the ConfigMap through a volume mounted without subPath, which"
    " the kubelet refreshes; or make the ConfigMap immutable and use a new name for each change; or"
    f" accept stale configuration with `{RELOAD_ANNOTATION}: none`."
)

RULES: Final[dict[str, dict[str, str]]] = {
    "env": {
        "name": "ConfigMapKeyInEnvNeverReloads",
        "short": "Environment variable from a ConfigMap key never reloads",
        "full": "An environment variable set from a ConfigMap key (env[].valueFrom.configMapKeyRef) is"
        " fixed when the container starts: editing the ConfigMap never reaches the running pods, and"
        " nothing restarts them.",
    },
    "envFrom": {
        "name": "ConfigMapEnvFromNeverReloads",
        "short": "Environment variables from a whole ConfigMap never reload",
        "full": "Environment variables imported from a ConfigMap (envFrom[].configMapRef) are fixed when"
        " the container starts: editing the ConfigMap never reaches the running pods, and nothing"
        " restarts them.",
    },
    "subPath": {
        "name": "ConfigMapSubPathNeverReloads",
        "short": "ConfigMap file mounted with subPath never reloads",
        "full": "A file mounted with subPath or subPathExpr from a ConfigMap-backed volume is never"
        " refreshed by the kubelet: editing the ConfigMap never reaches the running pods, and nothing"
        " restarts them.",
    },
    "invalid-annotation": {
        "name": "UnknownReloadStrategy",
        "short": f"Unknown {RELOAD_ANNOTATION} value",
        "full": f"The annotation {RELOAD_ANNOTATION} has a value that is not a known reload strategy,"
        " so it declares nothing; values are case-sensitive.",
        "help": 'Use "rollout" (roll the workload when its configuration changes) or "none" (accept'
        " stale configuration).",
    },
}


def rule_id(finding_type: str) -> str:
    return f"{TOOL}/{finding_type}"


def report_sarif(report: ScanReport, *, base: Path | None = None) -> dict[str, Any]:
    """The SARIF log; file locations are made relative to `base` (default: the current folder)."""
    base = Path(os.path.abspath(base or Path.cwd()))
    uris = {file: artifact_uri(file, base=base) for file in {judged.source.file for judged in report.flagged}}
    driver: dict[str, Any] = {
        "name": TOOL,
        "version": _version(),
        "rules": [_rule(finding_type) for finding_type in FINDING_TYPES],
    }
    if uri := _information_uri():
        driver["informationUri"] = uri
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": driver},
                "results": [
                    _result(judged, violation=violation, uri=uris[judged.source.file])
                    for judged, violation in report.findings()
                ],
                "invocations": [_invocation(report, base=base)],
            }
        ],
    }


def fingerprint(judged: Judged, *, violation: Violation, uri: str) -> str:
    """Hash of what identifies a finding, never of its line (lines move) or its wording.

    The file is part of it: the same workload in two files (two overlays, two environments) is
    two alerts, not one that code scanning would show in only one place.
    """
    identity = [
        uri,
        judged.kind,
        judged.namespace,
        judged.name,
        violation.container,
        violation.type,
        violation.configmap,
        violation.key,
        violation.mount_path,
        violation.level,
    ]
    if violation.secret is not None:  # appended, so a ConfigMap finding keeps its fingerprint
        identity.append(violation.secret)
    return hashlib.sha256(json.dumps(identity, separators=(",", ":")).encode("utf-8")).hexdigest()


def artifact_uri(file: str, *, base: Path) -> str:
    """A relative URI for files under `base` (what code scanning maps to the repository).

    Paths are made absolute without resolving symlinks: a linked manifest is reported where the
    user (and the repository) has it, not where its target lives.
    """
    if file == STDIN:
        return STDIN_URI
    path = Path(os.path.abspath(file))
    try:
        return quote(path.relative_to(base).as_posix(), safe="/")
    except ValueError:
        return path.as_uri()


def _rule(finding_type: str) -> dict[str, Any]:
    rule = RULES[finding_type]
    help_text = rule.get("help", f"Fix: {_FIXES}")
    return {
        "id": rule_id(finding_type),
        "name": rule["name"],
        "shortDescription": {"text": rule["short"]},
        "fullDescription": {"text": rule["full"]},
        "help": {"text": f"{rule['full']} {help_text}", "markdown": f"{rule['full']}\n\n{help_text}"},
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": ["kubernetes", "configmap", "reliability"]},
    }


def _result(judged: Judged, *, violation: Violation, uri: str) -> dict[str, Any]:
    return {
        "ruleId": rule_id(violation.type),
        "ruleIndex": FINDING_TYPES.index(violation.type),
        "level": "error",
        "message": {"text": violation.message},
        "locations": [_location(judged, uri=uri)],
        "partialFingerprints": {FINGERPRINT: fingerprint(judged, violation=violation, uri=uri)},
    }


def _invocation(report: ScanReport, *, base: Path) -> dict[str, Any]:
    """Skipped inputs as notifications: the run succeeded, but these were not looked at."""
    notifications = [
        {
            "level": "warning",
            "descriptor": {"id": "reload-safe/skipped"},
            "message": {"text": f"not scanned: {skip.reason}" + (f" ({skip.detail})" if skip.detail else "")},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": artifact_uri(skip.file, base=base)}}}],
        }
        for skip in report.skipped
    ]
    return {"executionSuccessful": True, "toolExecutionNotifications": notifications}


def _location(judged: Judged, *, uri: str) -> dict[str, Any]:
    source: Source = judged.source
    physical: dict[str, Any] = {"artifactLocation": {"uri": uri}}
    if source.line:
        physical["region"] = {"startLine": source.line}
    namespace = judged.namespace or "default"
    return {
        "physicalLocation": physical,
        "logicalLocations": [
            {
                "name": judged.name or "(unnamed)",
                "fullyQualifiedName": f"{judged.kind}/{namespace}/{judged.name or '(unnamed)'}",
                "kind": "resource",
            }
        ],
    }


def _version() -> str:
    try:
        return metadata.version("reload-safe")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def _information_uri() -> str | None:
    """The project's home page as packaged; SARIF leaves it optional, so none is invented."""
    try:
        info = metadata.metadata("reload-safe").json
    except metadata.PackageNotFoundError:
        return None
    home = info.get("home_page")
    urls = [url.split(",", 1)[1].strip() for url in info.get("project_url", []) if "," in url]
    if isinstance(home, str) and home:
        return home
    return urls[0] if urls else None
