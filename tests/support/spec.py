"""SPEC literals and test vectors, written exactly as /work/shared/SPEC.md writes them.

Nothing here is imported from `webhook`: a test that compares the code's output with the code's
own constant cannot fail when the constant is wrong.
"""

from __future__ import annotations

from typing import Final

# --- "Hash algorithm (exact)": the v1 test vector ----------------------------------------------

V1_CONFIGMAP: Final = "env-config"
V1_DATA: Final = {"log_level": "INFO"}
V1_ENTRIES: Final = [["env-config", "data", "log_level", "SU5GTw=="]]
V1_HASH: Final = "sha256:08c2241d98d68d7f1f0676bc1542957dcdccdf1bb200a0788849e738f1bd3394"

# Contract v2 "Secrets", test vector: a Deployment whose only container has
# envFrom: [{configMapRef: {name: env-config}}, {secretRef: {name: db-creds}}].
V2_HASH_KEY: Final = b"reload-safe-test-key-0123456789abcdef"
V2_SECRET: Final = "db-creds"
V2_SECRET_DATA: Final = {"password": "aHVudGVyMg=="}
"""`data` as stored: base64 of "hunter2"."""
V2_ENTRIES: Final = [
    ["db-creds", "secret", "password", "59090ff33e312df6d9fe124d0033240b2c605d3b1e6bd73447d60d763e361fcb"],
    ["env-config", "data", "log_level", "SU5GTw=="],
]
V2_HASH: Final = "sha256:253b24589d9f1fafeed0fed060f8057de16660c1ab7f1269d0188d5d519b9946"
"""A Deployment whose only container has `envFrom: [{configMapRef: {name: env-config}}]`."""

HASH_PATTERN: Final = r"sha256:[0-9a-f]{64}"

# --- names and values --------------------------------------------------------------------------

HASH_ANNOTATION: Final = "reload-safe.io/config-hash"
RELOAD_ANNOTATION: Final = "reload-safe.io/reload"
POLICY_LABEL: Final = "reload-safe.io/policy"
TRUE: Final = "true"
"""Annotation values are compared exactly: only this string (or a YAML boolean true) counts."""

RELOADER_AUTO: Final = "reloader.stakater.com/auto"
RELOADER_CONFIGMAP_AUTO: Final = "configmap.reloader.stakater.com/auto"
RELOADER_CONFIGMAP_RELOAD: Final = "configmap.reloader.stakater.com/reload"
RELOADER_SEARCH: Final = "reloader.stakater.com/search"
RELOADER_MATCH: Final = "reloader.stakater.com/match"
WAVE: Final = "wave.pusher.com/update-on-config-change"

# --- "Messages" and "Policy per namespace" -----------------------------------------------------

WARNING_MAX: Final = 256
"""A warning is never longer than 256 characters (counted in characters)."""
ELLIPSIS: Final = "…"
DENIED_CODE: Final = 403
DENIED_REASON: Final = "Forbidden"


# SPEC "scan" JSON: the fields of each finding (Contract v2 adds `secret`; one of `configmap` and
# `secret` is null). `report` JSON findings are the same without `source`.
REPORT_FINDING_FIELDS: Final = frozenset(
    {"kind", "namespace", "name", "container", "type", "configmap", "secret", "key", "mount_path", "message"}
)
SCAN_FINDING_FIELDS: Final = REPORT_FINDING_FIELDS | {"source"}
