{{/* Names ------------------------------------------------------------------------------ */}}

{{- define "reload-safe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "reload-safe.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* A derived name: fullname truncated so that "-<suffix>" still fits in 63 characters. */}}
{{- define "reload-safe.suffixed" -}}
{{- $root := index . 0 }}
{{- $suffix := index . 1 }}
{{- printf "%s-%s" (include "reload-safe.fullname" $root | trunc (int (sub 62 (len $suffix))) | trimSuffix "-") $suffix }}
{{- end }}

{{- define "reload-safe.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels ----------------------------------------------------------------------------- */}}

{{- define "reload-safe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "reload-safe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "reload-safe.labels" -}}
helm.sh/chart: {{ include "reload-safe.chart" . }}
{{ include "reload-safe.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: reload-safe
{{- end }}

{{/* Labels of one component: webhook, controller, certs, test. */}}
{{- define "reload-safe.componentSelectorLabels" -}}
{{ include "reload-safe.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "reload-safe.componentLabels" -}}
{{ include "reload-safe.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Objects ---------------------------------------------------------------------------- */}}

{{- define "reload-safe.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "reload-safe.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "reload-safe.controllerServiceAccountName" -}}
{{- default (include "reload-safe.suffixed" (list . "controller")) .Values.controller.serviceAccount.name }}
{{- end }}

{{- define "reload-safe.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Service (also the certificate's subject) and the two webhook configurations. */}}
{{- define "reload-safe.serviceName" -}}
{{- include "reload-safe.fullname" . }}
{{- end }}

{{- define "reload-safe.webhookConfigurationName" -}}
{{- include "reload-safe.fullname" . }}
{{- end }}

{{/* The server runs in the cluster unless the webhooks are registered by URL. */}}
{{- define "reload-safe.inCluster" -}}
{{- if not .Values.webhook.url }}true{{ end }}
{{- end }}

{{/* Certificates ----------------------------------------------------------------------- */}}

{{- define "reload-safe.tlsSecretName" -}}
{{- if eq .Values.certificates.mode "provided" }}
{{- .Values.certificates.provided.secretName }}
{{- else }}
{{- default (include "reload-safe.suffixed" (list . "tls")) .Values.certificates.secretName }}
{{- end }}
{{- end }}

{{- define "reload-safe.caSecretName" -}}
{{- default (include "reload-safe.suffixed" (list . "ca")) .Values.certificates.selfManaged.caSecretName }}
{{- end }}

{{/* caBundle from values: accepts the PEM itself or its base64 (the API's form). */}}
{{- define "reload-safe.providedCABundle" -}}
{{- $ca := .Values.certificates.provided.caBundle | trim }}
{{- if contains "-----BEGIN" $ca }}
{{- $ca | b64enc }}
{{- else }}
{{- $ca }}
{{- end }}
{{- end }}

{{/* Fail early on combinations that cannot work. */}}
{{- define "reload-safe.validate" -}}
{{- $mode := .Values.certificates.mode }}
{{- if and .Values.webhook.url (ne $mode "provided") }}
{{- fail "webhook.url needs certificates.mode=provided and certificates.provided.caBundle (the chart cannot issue a certificate for a server it does not run)" }}
{{- end }}
{{- if eq $mode "provided" }}
{{- if not .Values.certificates.provided.caBundle }}
{{- fail "certificates.mode=provided needs certificates.provided.caBundle" }}
{{- end }}
{{- if and (not .Values.webhook.url) (not .Values.certificates.provided.secretName) }}
{{- fail "certificates.mode=provided needs certificates.provided.secretName (an existing kubernetes.io/tls Secret)" }}
{{- end }}
{{- end }}
{{- if and .Values.webhook.url (not (hasPrefix "https://" .Values.webhook.url)) }}
{{- fail "webhook.url must start with https:// (the API server only calls webhooks over TLS)" }}
{{- end }}
{{- end }}

{{/* Pods ------------------------------------------------------------------------------- */}}

{{/* A writable /tmp on a read-only root filesystem. */}}
{{- define "reload-safe.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end }}

{{- define "reload-safe.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{/* Where in-cluster clients find ca.crt: the serving Secret (self-managed, cert-manager) or
     the ConfigMap rendered from the provided caBundle. Emits "configMap" or "secret" and a name. */}}
{{- define "reload-safe.caSourceKind" -}}
{{- ternary "configMap" "secret" (eq .Values.certificates.mode "provided") }}
{{- end }}

{{- define "reload-safe.caSourceName" -}}
{{- if eq .Values.certificates.mode "provided" }}
{{- include "reload-safe.suffixed" (list . "ca-bundle") }}
{{- else }}
{{- include "reload-safe.tlsSecretName" . }}
{{- end }}
{{- end }}

{{/* The Secret holding the hash key (data key `hash-key`): the user's, or <fullname>-hash-key. */}}
{{- define "reload-safe.hashKeySecretName" -}}
{{- .Values.secrets.hashKey.existingSecret | default (include "reload-safe.suffixed" (list . "hash-key")) }}
{{- end }}

{{/* Where the server and the controller read the hash key. */}}
{{- define "reload-safe.hashKeyFile" -}}
/etc/reload-safe/hash-key/hash-key
{{- end }}

{{/* The read-only mount of the hash key (only with secrets.enabled). */}}
{{- define "reload-safe.hashKeyMount" -}}
- name: hash-key
  mountPath: /etc/reload-safe/hash-key
  readOnly: true
{{- end }}

{{- define "reload-safe.hashKeyVolume" -}}
- name: hash-key
  secret:
    secretName: {{ include "reload-safe.hashKeySecretName" . }}
    defaultMode: 0440
    items:
      - key: hash-key
        path: hash-key
{{- end }}

{{/* Read-only access to Secrets for the server and the controller (only with secrets.enabled). */}}
{{- define "reload-safe.secretsReadRule" -}}
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
{{- end }}
