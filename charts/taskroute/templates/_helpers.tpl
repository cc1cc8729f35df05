{{/*
Name of the chart, overridable.
*/}}
{{- define "taskroute.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified base name of every object. A release named "taskroute" yields
"taskroute", so its objects carry the same names as config/default (taskroute-manager,
taskroute-matching, ...). Trimmed so that the longest suffix still fits 63 characters.
*/}}
{{- define "taskroute.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "taskroute.managerName" -}}
{{- printf "%s-manager" (include "taskroute.fullname" .) }}
{{- end }}

{{- define "taskroute.matchingServiceName" -}}
{{- printf "%s-matching" (include "taskroute.fullname" .) }}
{{- end }}

{{- define "taskroute.metricsServiceName" -}}
{{- printf "%s-metrics" (include "taskroute.fullname" .) }}
{{- end }}

{{/*
Name of the metrics Service's port: https-metrics when /metrics is served over HTTPS.
*/}}
{{- define "taskroute.metricsPortName" -}}
{{- if .Values.metrics.secure }}https-metrics{{ else }}http-metrics{{ end }}
{{- end }}

{{- define "taskroute.leaderElectionName" -}}
{{- printf "%s-leader-election" (include "taskroute.fullname" .) }}
{{- end }}

{{- define "taskroute.dataClaimName" -}}
{{- default (printf "%s-data" (include "taskroute.fullname" .)) .Values.persistence.existingClaim }}
{{- end }}

{{- define "taskroute.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "taskroute.managerName" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The address worker pods dial: the matching Service's in-cluster name unless overridden.
*/}}
{{- define "taskroute.matchingAddress" -}}
{{- if .Values.matching.address }}
{{- .Values.matching.address }}
{{- else }}
{{- printf "%s.%s.svc:%d" (include "taskroute.matchingServiceName" .) .Release.Namespace (int .Values.matching.port) }}
{{- end }}
{{- end }}

{{- define "taskroute.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
Selector labels: stable for the life of a release (a Deployment's selector is immutable).
*/}}
{{- define "taskroute.selectorLabels" -}}
app.kubernetes.io/name: {{ include "taskroute.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end }}

{{- define "taskroute.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "taskroute.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: taskroute
{{- end }}

{{/* Non-empty when the matching certificate comes from a mounted Secret. */}}
{{- define "taskroute.tlsFromSecret" -}}
{{- if has .Values.matching.tls.mode (list "cert-manager" "files") }}true{{ end }}
{{- end }}

{{/* The Secret with tls.crt, tls.key and ca.crt of the matching service. */}}
{{- define "taskroute.tlsSecretName" -}}
{{- if eq .Values.matching.tls.mode "cert-manager" }}
{{- printf "%s-matching-tls" (include "taskroute.fullname" .) }}
{{- else }}
{{- required "matching.tls.secretName is required when matching.tls.mode is files" .Values.matching.tls.secretName }}
{{- end }}
{{- end }}
