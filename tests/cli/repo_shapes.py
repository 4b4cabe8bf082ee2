"""A repository the way real ones look: a chart, a kustomization, plain manifests, and the files
around them that are not manifests (mkdocs.yml, package.json, CI workflows, values files).

Each file is written with the shape it has in well-known public repositories, so `scan .`
meets what it meets in the field.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

FILES: dict[str, str] = {
    # --- a Helm chart: Chart.yaml, values.yaml, templates with {{ }} actions -----------------
    "charts/app/Chart.yaml": """
        apiVersion: v2
        name: app
        description: A web application
        type: application
        version: 0.3.1
        appVersion: "1.27.0"
    """,
    "charts/app/values.yaml": """
        replicaCount: 2
        image:
          repository: nginx
          tag: ""
        reload: ""
        podAnnotations: {}
    """,
    "charts/app/templates/_helpers.tpl": """
        {{- define "app.fullname" -}}
        {{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
        {{- end }}
    """,
    "charts/app/templates/NOTES.txt": """
        Get the application URL by running: kubectl port-forward svc/{{ include "app.fullname" . }} 8080:80
    """,
    "charts/app/templates/configmap.yaml": """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {{ include "app.fullname" . }}-settings
        data:
          LOG_LEVEL: info
    """,
    "charts/app/templates/deployment.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {{ include "app.fullname" . }}
          {{- with .Values.reload }}
          annotations:
            reload-safe.io/reload: {{ . }}
          {{- end }}
        spec:
          replicas: {{ .Values.replicaCount }}
          selector:
            matchLabels:
              app: {{ include "app.fullname" . }}
          template:
            metadata:
              labels:
                app: {{ include "app.fullname" . }}
            spec:
              containers:
                - name: {{ .Chart.Name }}
                  image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
                  envFrom:
                    - configMapRef:
                        name: {{ include "app.fullname" . }}-settings
    """,
    "charts/app/ci/rollout-values.yaml": """
        reload: rollout
    """,
    # --- a kustomization: a base and an overlay ------------------------------------------------
    "deploy/base/kustomization.yaml": """
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        resources:
          - deployment.yaml
        configMapGenerator:
          - name: api-settings
            literals:
              - MODE=base
    """,
    "deploy/base/deployment.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: api
        spec:
          selector:
            matchLabels: {app: api}
          template:
            metadata:
              labels: {app: api}
            spec:
              containers:
                - name: api
                  image: ghcr.io/example/api:2.4.0
                  env:
                    - name: MODE
                      valueFrom:
                        configMapKeyRef: {name: api-settings, key: MODE}
    """,
    "deploy/overlays/prod/kustomization.yaml": """
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        namespace: prod
        resources:
          - ../../base
    """,
    # --- plain manifests, one with the `=` scalar of a CRD enum (kube-prometheus) --------------
    "manifests/worker.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: worker
          namespace: jobs
        spec:
          selector:
            matchLabels: {app: worker}
          template:
            metadata:
              labels: {app: worker}
            spec:
              containers:
                - name: worker
                  image: ghcr.io/example/worker:1.0.0
                  envFrom:
                    - configMapRef: {name: worker-settings}
    """,
    "manifests/crds/alertmanagerconfigs.yaml": """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata:
          name: alertmanagerconfigs.monitoring.coreos.com
        spec:
          group: monitoring.coreos.com
          names: {kind: AlertmanagerConfig, plural: alertmanagerconfigs}
          scope: Namespaced
          versions:
            - name: v1alpha1
              served: true
              storage: true
              schema:
                openAPIV3Schema:
                  type: object
                  properties:
                    matchType:
                      description: Match operator
                      enum:
                        - '!='
                        - =
                        - =~
                        - '!~'
                      type: string
    """,
    "manifests/operators.yaml": """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: operators
          namespace: jobs
        data:
          equals: =
          created: 2024-05-01T10:00:00Z
    """,
    # --- what else real repositories hold -----------------------------------------------------
    "mkdocs.yml": """
        site_name: Example
        theme:
          name: material
        markdown_extensions:
          - pymdownx.emoji:
              emoji_index: !!python/name:material.extensions.emoji.twemoji
              emoji_generator: !!python/name:material.extensions.emoji.to_svg
    """,
    ".github/workflows/ci.yml": """
        name: ci
        on: [push]
        jobs:
          test:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
    """,
    "package.json": '{"name": "docs-site", "private": true, "scripts": {"build": "mkdocs build"}}\n',
    "docs/keywords.json": '["kubernetes", "configmap", "reload"]\n',
    "docs/title.json": '"reload-safe documentation"\n',
    "docs/empty.yaml": "",
}


def write_repo(root: Path, *, files: dict[str, str] | None = None) -> Path:
    """Write `files` (default: all of FILES) under `root`, dedented; return `root`."""
    for name, text in (FILES if files is None else files).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def only(*prefixes: str) -> dict[str, str]:
    """The files of FILES under any of `prefixes`."""
    return {name: text for name, text in FILES.items() if name.startswith(prefixes)}
