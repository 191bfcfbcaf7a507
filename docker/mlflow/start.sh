#!/bin/sh
# Start the MLflow tracking server behind MLflow's own basic-auth app (`--app-name basic-auth`).
#
# Its users live in MLFLOW_AUTH_DATABASE_URI (default: the backend store; MLflow keeps them apart with
# its own alembic_version_auth table). At first start MLflow creates the admin from
# MLFLOW_AUTH_ADMIN_USERNAME / MLFLOW_AUTH_ADMIN_PASSWORD (from a Secret); later starts keep the users
# already stored. MLFLOW_FLASK_SERVER_SECRET_KEY signs its CSRF tokens (the same on every replica).
# /health answers without a login (the probes); every API and UI call needs one.
set -eu
: "${MLFLOW_BACKEND_STORE_URI:?set MLFLOW_BACKEND_STORE_URI (the tracking database)}"
: "${MLFLOW_AUTH_ADMIN_PASSWORD:?set MLFLOW_AUTH_ADMIN_PASSWORD (the admin of the basic-auth app, from a Secret)}"
: "${MLFLOW_FLASK_SERVER_SECRET_KEY:?set MLFLOW_FLASK_SERVER_SECRET_KEY (signs the auth app's CSRF tokens)}"
case "$MLFLOW_AUTH_ADMIN_PASSWORD" in change-me*) echo "refusing to start: MLFLOW_AUTH_ADMIN_PASSWORD is the .env.example placeholder" >&2; exit 78 ;; esac
export MLFLOW_AUTH_ADMIN_USERNAME="${MLFLOW_AUTH_ADMIN_USERNAME:-admin}"
export MLFLOW_AUTH_CONFIG_PATH="${MLFLOW_AUTH_CONFIG_PATH:-${TMPDIR:-/tmp}/mlflow-basic-auth.ini}"
auth_db="${MLFLOW_AUTH_DATABASE_URI:-$MLFLOW_BACKEND_STORE_URI}"
# The file holds the database URI (with its password): private. configparser reads % as interpolation.
umask 077
cat > "$MLFLOW_AUTH_CONFIG_PATH" <<INI
[mlflow]
# Users other than the admin see nothing until granted (least privilege).
default_permission = ${MLFLOW_AUTH_DEFAULT_PERMISSION:-NO_PERMISSIONS}
database_uri = $(printf '%s' "$auth_db" | sed 's/%/%%/g')
admin_username = $MLFLOW_AUTH_ADMIN_USERNAME
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
INI
exec mlflow server --app-name basic-auth \
  --host "${MLFLOW_HOST:-0.0.0.0}" --port "${MLFLOW_PORT:-5000}" --workers "${MLFLOW_WORKERS:-2}" \
  --backend-store-uri "$MLFLOW_BACKEND_STORE_URI" \
  --artifacts-destination "${MLFLOW_ARTIFACTS_DESTINATION:-/mlflow/artifacts}" --serve-artifacts \
  --allowed-hosts "${MLFLOW_ALLOWED_HOSTS:-localhost,127.0.0.1}" "$@"
