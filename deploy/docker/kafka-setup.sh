#!/usr/bin/env bash
# docker-compose.yml's one-shot kafka-setup: every principal's SCRAM-SHA-512 credential and every
# ACL (from ANNALS_KAFKA_USERS and ANNALS_KAFKA_ACLS, see deploy/docker/kafka-secrets.sh), made
# with Kafka's tools logged in as admin over PLAIN. Creating what exists changes nothing.
set -euo pipefail
umask 077
bin=${KAFKA_BIN:-/opt/kafka/bin}
server=${KAFKA_SERVER:-kafka:19092}
admin=/tmp/annals-admin.properties
{
  echo "security.protocol=SASL_PLAINTEXT"
  echo "sasl.mechanism=PLAIN"
  printf 'sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="%s";\n' \
    "$ANNALS_SECRET_KAFKA_ADMIN"
} > "$admin"

IFS=';' read -ra users <<< "$ANNALS_KAFKA_USERS"
for entry in "${users[@]}"; do
  read -r user password <<< "$entry"
  "$bin/kafka-configs.sh" --bootstrap-server "$server" --command-config "$admin" --alter \
    --entity-type users --entity-name "$user" --add-config "SCRAM-SHA-512=[password=$password]"
done

IFS=';' read -ra acls <<< "$ANNALS_KAFKA_ACLS"
for entry in "${acls[@]}"; do
  read -r principal flag name pattern operations <<< "$entry"
  target=("$flag")
  [ "$flag" = --cluster ] || target+=("$name")
  ops=()
  IFS=',' read -ra names <<< "$operations"
  for op in "${names[@]}"; do ops+=(--operation "$op"); done
  "$bin/kafka-acls.sh" --bootstrap-server "$server" --command-config "$admin" --add \
    --allow-principal "$principal" "${target[@]}" --resource-pattern-type "$pattern" "${ops[@]}"
done
echo "kafka-setup: ${#users[@]} SCRAM users, ${#acls[@]} ACL entries"
