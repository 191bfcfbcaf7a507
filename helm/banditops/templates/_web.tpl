{{/*
A stateless HTTP service of BanditOps (environment, dashboard, decision): Deployment + Service.
Call with (dict "root" $ "component" "decision" "values" .Values.decision "healthPath" "/healthz"
           "env" (string of EnvVar items: the service's secrets, and only those)). The image's own CMD runs (each service's Dockerfile owns
its command line); containerPort must be the port that CMD listens on.
*/}}
{{- define "banditops.webService" -}}
{{- $root := .root }}
{{- $component := .component }}
{{- $values := .values }}
{{- $name := include "banditops.componentName" (list $root $component) }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  labels:
    {{- include "banditops.labels" (list $root $component) | nindent 4 }}
spec:
  {{- if not (and $values.autoscaling $values.autoscaling.enabled) }}
  replicas: {{ $values.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 3
  selector:
    matchLabels:
      {{- include "banditops.selectorLabels" (list $root $component) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "banditops.labels" (list $root $component) | nindent 8 }}
      annotations:
        # Roll the pods when the settings change.
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        {{- with $values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      automountServiceAccountToken: false
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- include "banditops.podSecurityContext" $root | nindent 8 }}
      containers:
        - name: {{ $component }}
          image: {{ include "banditops.image" (list $root $values.image) | quote }}
          imagePullPolicy: {{ $values.image.pullPolicy }}
          {{- with .args }}
          args:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          ports:
            - name: http
              containerPort: {{ $values.containerPort }}
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ include "banditops.componentName" (list $root "config") }}
          env:
            - name: HOME
              value: /tmp
            {{- with .env }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- with $values.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          startupProbe:
            httpGet:
              path: {{ .healthPath }}
              port: http
            periodSeconds: 5
            failureThreshold: 30
          readinessProbe:
            httpGet:
              path: {{ .healthPath }}
              port: http
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          livenessProbe:
            httpGet:
              path: {{ .healthPath }}
              port: http
            periodSeconds: 20
            timeoutSeconds: 5
            failureThreshold: 3
          resources:
            {{- toYaml $values.resources | nindent 12 }}
          securityContext:
            {{- include "banditops.containerSecurityContext" $root | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        # The root filesystem is read-only; Python and uvicorn get a scratch /tmp.
        - name: tmp
          emptyDir:
            sizeLimit: 256Mi
      {{- with $values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  labels:
    {{- include "banditops.labels" (list $root $component) | nindent 4 }}
spec:
  type: {{ $values.service.type }}
  selector:
    {{- include "banditops.selectorLabels" (list $root $component) | nindent 4 }}
  ports:
    - name: http
      port: {{ $values.service.port }}
      targetPort: http
      protocol: TCP
{{- if and $values.autoscaling $values.autoscaling.enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $name }}
  labels:
    {{- include "banditops.labels" (list $root $component) | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $name }}
  minReplicas: {{ $values.autoscaling.minReplicas }}
  maxReplicas: {{ $values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $values.autoscaling.targetCPUUtilizationPercentage }}
{{- end }}
{{- end }}
