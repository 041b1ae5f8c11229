{{- define "translator.name" -}}translator{{- end -}}

{{- define "translator.fullname" -}}
{{- if contains "translator" .Release.Name -}}{{ .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-translator" .Release.Name | trunc 50 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "translator.labels" -}}
app.kubernetes.io/name: translator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "translator.selector" -}}
app.kubernetes.io/name: translator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "translator.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "translator.logSecret" -}}
{{- .Values.logStore.existingSecret | default (printf "%s-log-store" (include "translator.fullname" .)) -}}
{{- end -}}

{{- define "translator.logEndpoint" -}}
{{- if .Values.logStore.deployMinio -}}
{{ include "translator.fullname" . }}-minio.{{ .Release.Namespace }}.svc:9000
{{- else -}}
{{ .Values.logStore.endpoint }}
{{- end -}}
{{- end -}}

{{- define "translator.registrySecret" -}}
{{- .Values.registry.existingSecret | default (printf "%s-registry" (include "translator.fullname" .)) -}}
{{- end -}}

{{- define "translator.registryAddress" -}}
{{- if .Values.registry.deploy -}}
127.0.0.1:{{ .Values.registry.nodePort }}
{{- else -}}
{{ .Values.registry.address }}
{{- end -}}
{{- end -}}

{{- define "translator.podSecurity" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "translator.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}
