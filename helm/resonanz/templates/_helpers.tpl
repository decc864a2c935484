{{/* Names, labels and the table of roles shared by every template. */}}

{{- define "resonanz.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "resonanz.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "resonanz.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "resonanz.selectorLabels" -}}
app.kubernetes.io/name: {{ include "resonanz.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "resonanz.labels" -}}
helm.sh/chart: {{ include "resonanz.chart" . }}
{{ include "resonanz.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: resonanz
{{- end -}}

{{/* Labels of one role's objects; call with (dict "root" $ "role" $role). */}}
{{- define "resonanz.roleLabels" -}}
{{ include "resonanz.labels" .root }}
app.kubernetes.io/component: {{ .role.component }}
{{- end -}}

{{- define "resonanz.roleSelectorLabels" -}}
{{ include "resonanz.selectorLabels" .root }}
app.kubernetes.io/component: {{ .role.component }}
{{- end -}}

{{- define "resonanz.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "resonanz.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "resonanz.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/*
The roles: values key, component name, console script, gRPC port, the roles variable and whether the
role has an API Service, uses the media store and the credential keys, and whether its pods name
themselves in RESONANZ_REPLICA_ID (listening's collection leases). Read with
(include "resonanz.roles" . | fromYaml).roles.
*/}}
{{- define "resonanz.roles" -}}
roles:
  - key: publishingApi
    component: publishing-api
    service: publishing
    command: resonanz-publishing
    port: 50051
    portEnv: RESONANZ_PUBLISHING_PORT
    rolesEnv: RESONANZ_PUBLISHING_ROLES
    rolesValue: api
    api: true
    publishing: true
  - key: publishingDispatcher
    component: publishing-dispatcher
    service: publishing
    command: resonanz-publishing
    port: 50051
    portEnv: RESONANZ_PUBLISHING_PORT
    rolesEnv: RESONANZ_PUBLISHING_ROLES
    rolesValue: dispatcher
    api: false
    publishing: true
  - key: publishingWorker
    component: publishing-worker
    service: publishing
    command: resonanz-publishing
    port: 50051
    portEnv: RESONANZ_PUBLISHING_PORT
    rolesEnv: RESONANZ_PUBLISHING_ROLES
    rolesValue: worker
    api: false
    publishing: true
  - key: listening
    component: listening
    service: listening
    command: resonanz-listening
    port: 50052
    portEnv: RESONANZ_LISTENING_PORT
    rolesEnv: ""
    rolesValue: ""
    api: true
    publishing: false
    replicaId: true
  - key: scoringApi
    component: scoring-api
    service: scoring
    command: resonanz-scoring
    port: 50053
    portEnv: RESONANZ_SCORING_PORT
    rolesEnv: RESONANZ_SCORING_ROLES
    rolesValue: api
    api: true
    publishing: false
  - key: scoringWorker
    component: scoring-worker
    service: scoring
    command: resonanz-scoring
    port: 50053
    portEnv: RESONANZ_SCORING_PORT
    rolesEnv: RESONANZ_SCORING_ROLES
    rolesValue: worker
    api: false
    publishing: false
{{- end -}}

{{/* Kafka bootstrap servers: kafka.external.bootstrap, else the Strimzi cluster's bootstrap Service. */}}
{{- define "resonanz.kafkaBootstrap" -}}
{{- if .Values.kafka.external.bootstrap -}}
{{- .Values.kafka.external.bootstrap -}}
{{- else if .Values.kafka.strimzi.enabled -}}
{{- printf "%s-kafka-bootstrap.%s.svc:%d" .Values.kafka.strimzi.clusterName (default .Release.Namespace .Values.kafka.strimzi.namespace) (int .Values.kafka.strimzi.listenerPort) -}}
{{- else -}}
{{- fail "kafka.external.bootstrap is required when kafka.strimzi.enabled is false" -}}
{{- end -}}
{{- end -}}

{{- define "resonanz.mediaClaimName" -}}
{{- default (printf "%s-media" (include "resonanz.fullname" .)) .Values.media.local.existingClaim -}}
{{- end -}}

{{- define "resonanz.credentialKeysDir" -}}/etc/resonanz/credential-keys{{- end -}}
{{- define "resonanz.kafkaCaDir" -}}/etc/resonanz/kafka-ca{{- end -}}
{{- define "resonanz.kafkaClientCertDir" -}}/etc/resonanz/kafka-client{{- end -}}
{{- define "resonanz.mediaDir" -}}/media{{- end -}}

{{/*
The scoring faust app's own topics (resonanz_scoring.streams): internal topics <prefix>scoring.<name>,
table changelogs <app id>-<table>-changelog (compacted) with app id <prefix><consumer group
prefix>.scoring and tables named <prefix>scoring-<name>, and the assignor's leader topic. Partitions
are the code's (streams/app.py PARTITIONS = 3). Read with (include "resonanz.scoringTopics" . | fromYaml).topics.
*/}}
{{- define "resonanz.scoringTopics" -}}
{{- $prefix := .Values.kafka.topicPrefix -}}
{{- $appId := printf "%s%s.scoring" $prefix .Values.config.consumerGroupPrefix -}}
topics:
{{- range $name := list "label-activity" "cascade-posts" }}
  - {name: {{ printf "%sscoring.%s" $prefix $name | quote }}, partitions: 3, compact: false}
{{- end }}
{{- range $table := list "crisis" "cascades" "cascade-index" }}
  - {name: {{ printf "%s-%sscoring-%s-changelog" $appId $prefix $table | quote }}, partitions: 3, compact: true}
{{- end }}
  - {name: {{ printf "%s-__assignor-__leader" $appId | quote }}, partitions: 1, compact: false}
{{- end -}}
