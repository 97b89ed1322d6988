{{/* Chart name, shortened to the 63 characters a label value allows. */}}
{{- define "daemonguard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the Service, both webhook configurations and the RBAC objects carry
it. The release name when it already contains the chart name.
*/}}
{{- define "daemonguard.fullname" -}}
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

{{- define "daemonguard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "daemonguard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "daemonguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "daemonguard.labels" -}}
helm.sh/chart: {{ include "daemonguard.chart" . }}
{{ include "daemonguard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/component: webhook
app.kubernetes.io/part-of: daemonguard
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "daemonguard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "daemonguard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "daemonguard.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* The Secret holding the serving certificate, whatever the mode. */}}
{{- define "daemonguard.tlsSecretName" -}}
{{- if eq .Values.certificates.mode "provided" }}
{{- required "certificates.provided.secretName is required when certificates.mode is provided" .Values.certificates.provided.secretName }}
{{- else }}
{{- printf "%s-tls" (include "daemonguard.fullname" .) }}
{{- end }}
{{- end }}

{{/* The cert-manager Certificate whose CA cert-manager's cainjector injects. */}}
{{- define "daemonguard.servingCertificateName" -}}
{{- printf "%s-serving" (include "daemonguard.fullname" .) }}
{{- end }}

{{/* The namespaces neither webhook is ever called for. */}}
{{- define "daemonguard.excludedNamespaces" -}}
{{- $ns := concat .Values.webhooks.excludedNamespaces (list .Release.Namespace) | uniq }}
{{- toJson $ns }}
{{- end }}

{{/* Fails the render on a certificates.mode the chart does not know. */}}
{{- define "daemonguard.certMode" -}}
{{- $mode := .Values.certificates.mode }}
{{- if not (has $mode (list "certManager" "selfManaged" "provided")) }}
{{- fail (printf "certificates.mode %q is not one of certManager, selfManaged, provided" $mode) }}
{{- end }}
{{- $mode }}
{{- end }}
