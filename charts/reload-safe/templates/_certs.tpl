{{/* Shared by the self-managed certificate hook Jobs and the renewal CronJob. */}}

{{/* Secrets: read and update only the two named Secrets. `create` cannot be limited by
     resourceNames (the name is not known to the authorizer at creation), so it is a rule of
     its own, still confined to the release namespace by the Role. */}}
{{- define "reload-safe.certs.roleRules" -}}
- apiGroups: [""]
  resources: ["secrets"]
  resourceNames:
    - {{ include "reload-safe.tlsSecretName" . }}
    - {{ include "reload-safe.caSecretName" . }}
  verbs: ["get", "update"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["create"]
{{- end }}

{{/* Webhook configurations: read and patch (caBundle) only this release's two. */}}
{{- define "reload-safe.certs.clusterRoleRules" -}}
- apiGroups: ["admissionregistration.k8s.io"]
  resources: ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"]
  resourceNames: [{{ include "reload-safe.webhookConfigurationName" . | quote }}]
  verbs: ["get", "patch"]
{{- end }}

{{/* Pod spec running `reload-safe certs ensure`. Args: root, serviceAccount, allowMissing. */}}
{{- define "reload-safe.certs.podSpec" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $self := $v.certificates.selfManaged }}
serviceAccountName: {{ .serviceAccount }}
restartPolicy: Never
{{- with $v.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
securityContext:
  {{- toYaml $v.podSecurityContext | nindent 2 }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: certs
    image: {{ include "reload-safe.image" $root }}
    imagePullPolicy: {{ $v.image.pullPolicy }}
    args:
      - certs
      - ensure
      - --secret={{ include "reload-safe.tlsSecretName" $root }}
      - --ca-secret={{ include "reload-safe.caSecretName" $root }}
      - --namespace={{ $root.Release.Namespace }}
      - --service={{ include "reload-safe.serviceName" $root }}
      - --mutating={{ include "reload-safe.webhookConfigurationName" $root }}
      - --validating={{ include "reload-safe.webhookConfigurationName" $root }}
      - --validity-days={{ $self.validityDays }}
      - --ca-validity-days={{ $self.caValidityDays }}
      - --renew-before-days={{ $self.renewBeforeDays }}
      - --label=app.kubernetes.io/instance={{ $root.Release.Name }}
      {{- if .allowMissing }}
      - --allow-missing-webhooks
      {{- end }}
    resources:
      {{- toYaml $self.resources | nindent 6 }}
    securityContext:
      {{- toYaml $v.securityContext | nindent 6 }}
    volumeMounts:
      {{- include "reload-safe.tmpMount" $root | nindent 6 }}
volumes:
  {{- include "reload-safe.tmpVolume" $root | nindent 2 }}
{{- end }}
