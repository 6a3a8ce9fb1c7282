{{/* The declared topology (topology.yaml, written by `annals helm topology`). */}}
{{- define "annals.topology" -}}
{{- (.Files.Get "topology.yaml" | fromYaml).topology | toJson -}}
{{- end -}}

{{- define "annals.fullname" -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "annals.labels" -}}
app.kubernetes.io/part-of: annals
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* A Kubernetes name from a topology name (underscores are not allowed). */}}
{{- define "annals.dns" -}}
{{- . | replace "_" "-" | lower -}}
{{- end -}}

{{/* The Secret of a PostgreSQL role: <prefix>pg-<role>. Arguments: root, role. */}}
{{- define "annals.pgSecret" -}}
{{- printf "%spg-%s" .root.Values.secrets.prefix (include "annals.dns" .role) -}}
{{- end -}}

{{/* Host of the primary of the cluster holding a database. Arguments: root, database. */}}
{{- define "annals.pgHost" -}}
{{- $topo := include "annals.topology" .root | fromJson -}}
{{- $host := "" -}}
{{- range $topo.clusters -}}
{{- if eq .database $.database -}}
{{- if and .source (not $.root.Values.sources.managed) -}}
{{- $source := "" -}}
{{- range $topo.sources -}}{{- if eq .database $.database -}}{{- $source = .name -}}{{- end -}}{{- end -}}
{{- $host = required (printf "sources.hosts.%s: the host of database %s" $source $.database) (get $.root.Values.sources.hosts $source) -}}
{{- else -}}
{{- $host = printf "%s-%s-rw" (include "annals.fullname" $.root) .name -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- required (printf "no PostgreSQL cluster holds database %s" .database) $host -}}
{{- end -}}

{{/* A DSN of role on database, its password from the env var PG_PASSWORD_<ROLE> (see pgPassword). */}}
{{- define "annals.dsn" -}}
{{- printf "postgresql://%s:$(%s)@%s:5432/%s" .role (include "annals.pgPasswordVar" .role) (include "annals.pgHost" .) .database -}}
{{- end -}}

{{- define "annals.pgPasswordVar" -}}
{{- printf "PG_PASSWORD_%s" (. | upper | replace "-" "_") -}}
{{- end -}}

{{/* The env var holding a role's password, from its Secret. Arguments: root, role. */}}
{{- define "annals.pgPassword" -}}
- name: {{ include "annals.pgPasswordVar" .role }}
  valueFrom:
    secretKeyRef:
      name: {{ include "annals.pgSecret" . }}
      key: password
{{- end -}}

{{- define "annals.kafkaBootstrap" -}}
{{- printf "%s-kafka-bootstrap:9092" .Values.kafka.name -}}
{{- end -}}

{{/* Kafka settings of a platform process logging in as principal. Arguments: root, principal. */}}
{{- define "annals.kafkaEnv" -}}
- name: ANNALS_KAFKA_BOOTSTRAP
  value: {{ include "annals.kafkaBootstrap" .root | quote }}
- name: ANNALS_KAFKA_PARTITIONS
  value: {{ .root.Values.kafka.partitions | quote }}
- name: ANNALS_KAFKA_REPLICATION_FACTOR
  value: {{ .root.Values.kafka.replicationFactor | quote }}
- name: ANNALS_KAFKA_AUTH
  value: scram
- name: ANNALS_KAFKA_PRINCIPAL
  value: {{ .principal | quote }}
- name: ANNALS_KAFKA_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .principal }}
      key: password
{{- end -}}

{{/* Settings every platform container shares. */}}
{{- define "annals.commonEnv" -}}
- name: ANNALS_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.jwt }}
      key: secret
- name: ANNALS_STACK_DIR
  value: /tmp/annals
{{- with .Values.tracing.otlpEndpoint }}
- name: ANNALS_TRACES_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "annals.podSpec" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: tmp
    emptyDir: {}
{{- end -}}

{{- define "annals.image" -}}
image: {{ printf "%s:%s" .Values.image.repository .Values.image.tag | quote }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
securityContext:
  {{- toYaml .Values.containerSecurityContext | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end -}}

{{/* The publishing mode of a service: relay (default) or debezium. Arguments: root, service. */}}
{{- define "annals.publisher" -}}
{{- get .root.Values.publishers .service | default "relay" -}}
{{- end -}}

{{/* The personal-data master keys, for the processes that seal or open personal fields. */}}
{{- define "annals.masterKeysEnv" -}}
- name: ANNALS_MASTER_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.masterKeys }}
      key: keys
{{- end -}}

{{/* Password env vars for a list of roles. Arguments: root, roles. */}}
{{- define "annals.pgPasswords" -}}
{{- range (uniq .roles) }}
{{ include "annals.pgPassword" (dict "root" $.root "role" .) }}
{{- end }}
{{- end -}}

{{/* ANNALS_PROJECTOR_* database settings: the projector roles, the stores, the key reader. */}}
{{- define "annals.projectorEnv" -}}
{{- $topo := include "annals.topology" . | fromJson -}}
{{- $writers := dict -}}
{{- $roles := list $topo.keysReader -}}
{{- range $database, $role := $topo.projectorRoles -}}
{{- $_ := set $writers $database (include "annals.dsn" (dict "root" $ "role" $role "database" $database)) -}}
{{- $roles = append $roles $role -}}
{{- end -}}
{{- $stores := dict -}}
{{- range $topo.services -}}
{{- if eq .kind "command" -}}
{{- $_ := set $stores .name (include "annals.dsn" (dict "root" $ "role" .appRole "database" .database)) -}}
{{- $roles = append $roles .appRole -}}
{{- end -}}
{{- end -}}
{{- include "annals.pgPasswords" (dict "root" . "roles" $roles) }}
- name: ANNALS_PROJECTOR_BOOTSTRAP
  value: {{ include "annals.kafkaBootstrap" . | quote }}
- name: ANNALS_PROJECTOR_DATABASE_DSNS
  value: {{ toJson $writers | quote }}
- name: ANNALS_PROJECTOR_STORE_DSNS
  value: {{ toJson $stores | quote }}
- name: ANNALS_PROJECTOR_KEYS_DSN
  value: {{ include "annals.dsn" (dict "root" . "role" $topo.keysReader "database" $topo.keysDatabase) | quote }}
{{- end -}}

{{/* An HTTP process: Deployment, Service, PodDisruptionBudget and (if enabled) HPA.
     Arguments: root, name, port, args, env (YAML text), init (YAML text or ""), replicas,
     resources, scaled (bool). */}}
{{- define "annals.web" -}}
{{- $r := .root -}}
{{- $name := printf "%s-%s" (include "annals.fullname" $r) .name -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  labels:
    {{- include "annals.labels" $r | nindent 4 }}
    app.kubernetes.io/name: {{ .name }}
spec:
  {{- if not (and .scaled $r.Values.services.autoscaling.enabled) }}
  replicas: {{ .replicas }}
  {{- end }}
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ $r.Release.Name }}
      app.kubernetes.io/name: {{ .name }}
  template:
    metadata:
      labels:
        {{- include "annals.labels" $r | nindent 8 }}
        app.kubernetes.io/name: {{ .name }}
    spec:
      {{- include "annals.podSpec" $r | nindent 6 }}
      {{- with .init }}
      initContainers:
        {{- . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .name }}
          {{- include "annals.image" $r | nindent 10 }}
          args: {{ toJson .args }}
          ports:
            - name: http
              containerPort: {{ .port }}
          env:
            {{- .env | nindent 12 }}
          readinessProbe:
            httpGet: {path: /readyz, port: http}
            periodSeconds: 5
            failureThreshold: 3
          livenessProbe:
            httpGet: {path: /healthz, port: http}
            initialDelaySeconds: 10
            periodSeconds: 10
            failureThreshold: 6
          resources:
            {{- toYaml .resources | nindent 12 }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  labels:
    {{- include "annals.labels" $r | nindent 4 }}
    app.kubernetes.io/name: {{ .name }}
spec:
  selector:
    app.kubernetes.io/instance: {{ $r.Release.Name }}
    app.kubernetes.io/name: {{ .name }}
  ports:
    - name: http
      port: {{ .port }}
      targetPort: http
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $name }}
  labels:
    {{- include "annals.labels" $r | nindent 4 }}
spec:
  minAvailable: {{ $r.Values.services.pdb.minAvailable }}
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ $r.Release.Name }}
      app.kubernetes.io/name: {{ .name }}
{{- if and .scaled $r.Values.services.autoscaling.enabled }}
{{- $a := $r.Values.services.autoscaling }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $name }}
  labels:
    {{- include "annals.labels" $r | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $name }}
  minReplicas: {{ $a.minReplicas }}
  maxReplicas: {{ $a.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $a.cpuUtilization }}
{{- end }}
{{- end -}}

{{/* A worker without HTTP (relay, projector): a Deployment. Arguments: root, name, args, env,
     replicas, resources. */}}
{{- define "annals.worker" -}}
{{- $r := .root -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ printf "%s-%s" (include "annals.fullname" $r) .name }}
  labels:
    {{- include "annals.labels" $r | nindent 4 }}
    app.kubernetes.io/name: {{ .name }}
spec:
  replicas: {{ .replicas }}
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ $r.Release.Name }}
      app.kubernetes.io/name: {{ .name }}
  template:
    metadata:
      labels:
        {{- include "annals.labels" $r | nindent 8 }}
        app.kubernetes.io/name: {{ .name }}
    spec:
      {{- include "annals.podSpec" $r | nindent 6 }}
      terminationGracePeriodSeconds: 30
      containers:
        - name: {{ .name }}
          {{- include "annals.image" $r | nindent 10 }}
          args: {{ toJson .args }}
          env:
            {{- .env | nindent 12 }}
          resources:
            {{- toYaml .resources | nindent 12 }}
{{- end -}}

{{/* Where the platform finds the schema registry: the release's own, or schemaRegistry.url. */}}
{{- define "annals.registryUrl" -}}
{{- if .Values.schemaRegistry.url -}}
{{- .Values.schemaRegistry.url -}}
{{- else if .Values.schemaRegistry.enabled -}}
{{- printf "http://%s-registry:8081" (include "annals.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* ANNALS_REGISTRY_URL and, for an external registry, its tokens (admin: to register). */}}
{{- define "annals.registryEnv" -}}
- name: ANNALS_REGISTRY_URL
  value: {{ include "annals.registryUrl" .root | quote }}
{{- with .root.Values.schemaRegistry.tokenSecret }}
- name: ANNALS_REGISTRY_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: token
{{- if $.admin }}
- name: ANNALS_REGISTRY_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: adminToken
{{- end }}
{{- end }}
{{- end -}}
