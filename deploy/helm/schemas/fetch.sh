#!/usr/bin/env bash
# What `make lint` needs to check the Helm chart offline, built once into .stack/tools:
#   helm and kubeconform (Go module proxy), Kubernetes' JSON schemas (the kubernetes-validate
#   package in .venv), Strimzi's CRDs (fabric8's generator over io.strimzi:api from Maven
#   Central, strimzi/pom.xml) and CloudNativePG's (the k8s-crds-cloud-native-pg crate, cnpg/),
#   converted to kubeconform schemas by annals.deploy.k8s_schemas. A stamp of the inputs makes
#   a second run a no-op.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export PATH="$PATH:/usr/local/go/bin:$HOME/.cargo/bin"
HELM_VERSION=v4.3.2
KUBECONFORM_VERSION=v0.8.0
TOOLS=$PWD/.stack/tools
HERE=deploy/helm/schemas
# Build caches outside the clone (like Go's and Maven's), so a fresh clone links, not compiles.
CARGO_TARGET=${XDG_CACHE_HOME:-$HOME/.cache}/annals/cnpg-crds-target
STRIMZI_KINDS=(kafka.Kafka nodepool.KafkaNodePool topic.KafkaTopic user.KafkaUser
               connect.KafkaConnect connector.KafkaConnector)

stamp=$(cat "$0" $HERE/strimzi/pom.xml $HERE/cnpg/Cargo.toml $HERE/cnpg/Cargo.lock \
        $HERE/cnpg/src/main.rs libs/annals/deploy/k8s_schemas.py uv.lock | sha256sum | cut -d' ' -f1)
if [[ -f $TOOLS/helm-lint.stamp && $(cat "$TOOLS/helm-lint.stamp") == "$stamp" ]]; then
  exit 0
fi
mkdir -p "$TOOLS/bin" "$TOOLS/crd-src/strimzi"

echo "helm $HELM_VERSION, kubeconform $KUBECONFORM_VERSION (go install)"
# go install: the named versions only (a marker file records which one each binary is).
for tool in "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" \
            "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"; do
  name=${tool%@*}; name=${name##*/}
  if [[ ! -x $TOOLS/bin/$name || $(cat "$TOOLS/bin/.$name.version" 2>/dev/null) != "$tool" ]]; then
    GOBIN=$TOOLS/bin GOFLAGS=-mod=mod go install "$tool"
    echo "$tool" >"$TOOLS/bin/.$name.version"
  fi
done

echo "Strimzi CRDs (fabric8 CRD generator over io.strimzi:api)"
mvn -q -B -f $HERE/strimzi/pom.xml dependency:build-classpath \
  -Dmdep.outputFile="$TOOLS/strimzi.classpath" >"$TOOLS/mvn.log" 2>&1 || {
  cat "$TOOLS/mvn.log"
  exit 1
}
classpath=$(cat "$TOOLS/strimzi.classpath")
api=$(tr ':' '\n' <<<"$classpath" | grep '/io/strimzi/api/')
java -cp "$classpath" io.fabric8.crd.generator.cli.CRDGeneratorCLI -o "$TOOLS/crd-src/strimzi" \
  -cp "$api" "${STRIMZI_KINDS[@]/#/io.strimzi.api.kafka.model.}" >/dev/null

echo "CloudNativePG CRDs (k8s-crds-cloud-native-pg crate)"
CARGO_TARGET_DIR=$CARGO_TARGET cargo build -q --release --locked \
  --manifest-path $HERE/cnpg/Cargo.toml
"$CARGO_TARGET/release/annals-cnpg-crds" >"$TOOLS/crd-src/cnpg.jsonl"

echo "kubeconform schemas -> .stack/tools/k8s-schemas"
rm -rf "$TOOLS/k8s-schemas"
.venv/bin/python -m annals.deploy.k8s_schemas "$TOOLS/crd-src" "$TOOLS/k8s-schemas"
echo "$stamp" >"$TOOLS/helm-lint.stamp"
