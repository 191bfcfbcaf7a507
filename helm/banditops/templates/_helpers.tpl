{{/* Chart name, overridable. */}}
{{- define "banditops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name prefix of every object: <release>-<chart>, or the release name when it already holds the chart name. */}}
{{- define "banditops.fullname" -}}
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

{{/* Name of one component's objects: <fullname>-<component>. Call with (list $ "component"). */}}
{{- define "banditops.componentName" -}}
{{- $root := index . 0 }}
{{- printf "%s-%s" (include "banditops.fullname" $root) (index . 1) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. Call with (list $ "component"). */}}
{{- define "banditops.labels" -}}
{{- $root := index . 0 -}}
helm.sh/chart: {{ printf "%s-%s" $root.Chart.Name $root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "banditops.selectorLabels" . }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: banditops
{{- with $root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component. Call with (list $ "component"). */}}
{{- define "banditops.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "banditops.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* image reference; the tag defaults to the chart's appVersion. Call with (list $ .Values.<component>.image). */}}
{{- define "banditops.image" -}}
{{- $root := index . 0 }}
{{- $image := index . 1 }}
{{- printf "%s:%s" $image.repository (default $root.Chart.AppVersion $image.tag) }}
{{- end }}

{{/* Secret holding the services' tokens and passwords. */}}
{{- define "banditops.secretName" -}}
{{- default (include "banditops.componentName" (list . "secrets")) .Values.secrets.existingSecret }}
{{- end }}

{{/* Secret and key holding the Redis password (bundled or external). */}}
{{- define "banditops.redis.secretName" -}}
{{- if .Values.redis.enabled }}
{{- default (include "banditops.componentName" (list . "redis")) .Values.redis.auth.existingSecret }}
{{- else }}
{{- .Values.externalRedis.existingSecret }}
{{- end }}
{{- end }}

{{/* Secret of MLflow's basic-auth app (admin-username, admin-password, flask-secret-key). */}}
{{- define "banditops.mlflow.authSecretName" -}}
{{- default (include "banditops.componentName" (list . "mlflow-auth")) .Values.mlflow.auth.existingSecret }}
{{- end }}

{{- define "banditops.redis.host" -}}
{{- if .Values.redis.enabled }}
{{- include "banditops.componentName" (list . "redis") }}
{{- else }}
{{- .Values.externalRedis.host }}
{{- end }}
{{- end }}

{{- define "banditops.redis.port" -}}
{{- if .Values.redis.enabled }}6379{{ else }}{{ .Values.externalRedis.port }}{{ end }}
{{- end }}

{{- define "banditops.redis.database" -}}
{{- if .Values.redis.enabled }}0{{ else }}{{ .Values.externalRedis.database }}{{ end }}
{{- end }}

{{/*
The Redis login of one service: its own ACL user (banditops/store/acl.py) and only that user's
password, the URL built by Kubernetes from the Secret ($(VAR) expansion), so no secret is ever
inlined. Call with (list $ "decision").
*/}}
{{- define "banditops.redisEnv" -}}
{{- $root := index . 0 }}
{{- $user := index . 1 }}
- name: BANDITOPS_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "banditops.redis.secretName" $root }}
      key: {{ $user }}-password
- name: BANDITOPS_REDIS_URL
  value: "redis://{{ $user }}:$(BANDITOPS_REDIS_PASSWORD)@{{ include "banditops.redis.host" $root }}:{{ include "banditops.redis.port" $root }}/{{ include "banditops.redis.database" $root }}"
{{- end }}

{{/* One key of a Secret as an env var. Call with (list "VAR" "secretName" "key"). */}}
{{- define "banditops.secretEnv" -}}
- name: {{ index . 0 }}
  valueFrom:
    secretKeyRef:
      name: {{ index . 1 }}
      key: {{ index . 2 }}
{{- end }}

{{/* Pod security context shared by the BanditOps pods. */}}
{{- define "banditops.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end }}

{{/* Container security context shared by the BanditOps containers. */}}
{{- define "banditops.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext }}
{{- end }}

{{/*
A secret value: the one given, else the one already in the cluster (so upgrades keep it), else a
random one. Refuses the .env.example placeholders. Call with (list $ "secretObjectName" "key" value).
*/}}
{{- define "banditops.secretValue" -}}
{{- $root := index . 0 }}
{{- $secretName := index . 1 }}
{{- $key := index . 2 }}
{{- $given := index . 3 | toString }}
{{- if hasPrefix "change-me" $given }}
{{- fail (printf "%s: %q is the .env.example placeholder; set a real secret or leave it empty to generate one" $key $given) }}
{{- end }}
{{- if $given }}
{{- $given | b64enc }}
{{- else }}
{{- $existing := lookup "v1" "Secret" $root.Release.Namespace $secretName }}
{{- if and $existing (hasKey $existing.data $key) }}
{{- index $existing.data $key }}
{{- else }}
{{- randAlphaNum 40 | b64enc }}
{{- end }}
{{- end }}
{{- end }}
