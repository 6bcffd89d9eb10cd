#!/usr/bin/env bash
# deploy/check.sh — validates everything under deploy/ with real tools, offline.
# Run by scripts/test.sh (the project's test command); run it alone from anywhere:
#
#   bash deploy/check.sh                 # uses target/debug/clickgate for the live checks
#   CLICKGATE_BIN=/path/to/clickgate bash deploy/check.sh
#
# What is checked (deploy/README.md, "How deploy/ is checked", says why each is enough):
#   1. tools        kustomize, kubeconform, promtool from the Go module proxy (go install), our own
#                   helpers from deploy/tools/go; cached in .cache/tools (idempotent)
#   2. schemas      Kubernetes JSON schemas generated from the OpenAPI spec inside the
#                   k8s.io/kubernetes Go module (kubeconform cannot download its usual ones here)
#   3. kustomize    base and overlays/production render; kubeconform -strict validates the output
#   4. promtool     alert rules pass `promtool check rules` and their unit tests; prometheus.yml
#                   passes `promtool check config`
#   5. compose      docker-compose.yml loads with compose-go (what `docker compose config` runs);
#                   the Dockerfile parses with BuildKit's parser and passes its parse-time lint rules
#   6. static       cross-file agreement: topics, ports, probes, bucket, mounts, Connect sinks,
#                   security context, grace period (deploy/tools/check_static.py)
#   7. live         `clickgate --check-config` accepts every shipped config with the env each
#                   deployment gives it; a running `clickgate --dev` exports every metric and label
#                   the dashboard and the alerts use, and answers on the probe paths
#                   (deploy/tools/check_live.py)
#
# Environment: CLICKGATE_BIN (binary for step 7), DEPLOY_TOOLS_DIR (tool cache, default
# <repo>/.cache/tools), DEPLOY_CHECK_SKIP_LIVE=1 (skip step 7 and say so; for editing manifests
# before a binary exists — the test command never sets it).
set -euo pipefail

DEPLOY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$DEPLOY")"
CACHE="$REPO/.cache"
TOOLS="${DEPLOY_TOOLS_DIR:-$CACHE/tools}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/clickgate-deploy-check.XXXXXX")"

# Pinned tool versions. Kubernetes: the API version the manifests are validated against.
KUSTOMIZE_VERSION=v5.8.2
KUBECONFORM_VERSION=v0.8.0
PROMETHEUS_VERSION=v0.316.0   # Go module version of Prometheus 3.16 (promtool)
KUBERNETES_VERSION=v1.34.4

export GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -trimpath"
PYTHON="$(command -v python3)"

T0=$SECONDS
STEP_T0=$SECONDS
STEP_NAME=""
TIMINGS=()
finish() {
    local rc=$?
    rm -rf "$WORK"
    if ((rc != 0)) && [[ -n "$STEP_NAME" ]]; then
        TIMINGS+=("$(printf '%4ss  %s  <- FAILED' "$((SECONDS - STEP_T0))" "$STEP_NAME")")
    fi
    printf '\n--- deploy check: timings\n'
    printf '%s\n' "${TIMINGS[@]}"
    if ((rc == 0)); then
        printf 'deploy check: all passed in %ss\n' "$((SECONDS - T0))"
    else
        printf 'deploy check: FAILED (exit %s) after %ss\n' "$rc" "$((SECONDS - T0))"
    fi
}
trap finish EXIT
step() {
    printf '\n--- deploy check: %s\n' "$1"
    STEP_NAME="$1"
    STEP_T0=$SECONDS
}
done_step() {
    TIMINGS+=("$(printf '%4ss  %s' "$((SECONDS - STEP_T0))" "$STEP_NAME")")
    STEP_NAME=""
}
die() { printf 'deploy check FAILED: %s\n' "$*" >&2; exit 1; }

# go_tool NAME MODULE/PATH VERSION: `go install` once per version into $TOOLS.
go_tool() {
    local name="$1" pkg="$2" version="$3" stamp="$TOOLS/.$1.version"
    if [[ -x "$TOOLS/$name" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
        echo "$name $version (cached)"
        return
    fi
    echo "installing $name $version (go install $pkg@$version)"
    GOBIN="$TOOLS" go install "$pkg@$version"
    echo "$version" >"$stamp"
}

# ------------------------------------------------------------------------------------------------
step "tools"
command -v go >/dev/null || die "go is not installed (the tools come from the Go module proxy)"
mkdir -p "$TOOLS"
[[ -f "$CACHE/.gitignore" ]] || printf '*\n' >"$CACHE/.gitignore"
go_tool kustomize sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION"
go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"
go_tool promtool github.com/prometheus/prometheus/cmd/promtool "$PROMETHEUS_VERSION"
# Our helpers (compose-go loader, BuildKit Dockerfile parser, PromQL selector extractor, YAML->JSON):
# rebuilt when their sources change.
helpers=(composecheck dockerfilecheck promqlnames yaml2json)
helpers_stamp="$(cd "$DEPLOY/tools/go" && find . -type f \( -name '*.go' -o -name 'go.*' \) -print0 \
    | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
if [[ -f "$TOOLS/.helpers.stamp" && "$(cat "$TOOLS/.helpers.stamp")" == "$helpers_stamp" ]] \
    && all_there=1 && for h in "${helpers[@]}"; do [[ -x "$TOOLS/$h" ]] || all_there=0; done && ((all_there)); then
    echo "helpers: ${helpers[*]} (cached)"
else
    (cd "$DEPLOY/tools/go" && go build -o "$TOOLS/" "${helpers[@]/#/./}")
    echo "$helpers_stamp" >"$TOOLS/.helpers.stamp"
    echo "helpers: ${helpers[*]} (built)"
fi
done_step

# ------------------------------------------------------------------------------------------------
step "kubernetes schemas ($KUBERNETES_VERSION)"
SCHEMAS="$CACHE/k8s-schemas/$KUBERNETES_VERSION"
if [[ -f "$SCHEMAS/.complete" ]]; then
    echo "cached in $SCHEMAS"
else
    # The OpenAPI document ships in the k8s.io/kubernetes module (api/openapi-spec/swagger.json).
    k8s_dir="$(cd "$WORK" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" \
        | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
    rm -rf "$SCHEMAS"
    "$PYTHON" "$DEPLOY/tools/k8s_schemas.py" "$k8s_dir/api/openapi-spec/swagger.json" "$SCHEMAS"
    touch "$SCHEMAS/.complete"
fi
done_step

# ------------------------------------------------------------------------------------------------
step "kustomize build + kubeconform -strict"
for overlay in base overlays/production; do
    out="$WORK/$(basename "$overlay").yaml"
    "$TOOLS/kustomize" build "$DEPLOY/k8s/$overlay" >"$out"
    echo "k8s/$overlay: $(grep -c '^kind:' "$out") objects: $(grep '^kind:' "$out" | awk '{print $2}' | sort | tr '\n' ' ')"
    # -strict: unknown fields are errors; a kind without a schema is an error (no -ignore-missing-schemas).
    "$TOOLS/kubeconform" -strict -summary -output text \
        -schema-location "$SCHEMAS/{{ .ResourceKind }}{{ .KindSuffix }}.json" "$out"
    "$TOOLS/yaml2json" <"$out" >"$WORK/$(basename "$overlay").json"
done
# The Secret production expects to be created out of band: same validation.
example="$DEPLOY/k8s/overlays/production/clickgate-credentials.example.yaml"
"$TOOLS/kubeconform" -strict -summary -output text \
    -schema-location "$SCHEMAS/{{ .ResourceKind }}{{ .KindSuffix }}.json" "$example"
"$TOOLS/yaml2json" <"$example" >"$WORK/example-secret.json"
done_step

# ------------------------------------------------------------------------------------------------
step "promtool"
"$TOOLS/promtool" check rules "$DEPLOY/prometheus/alerts.yml"
"$TOOLS/promtool" test rules "$DEPLOY/prometheus/alerts_test.yml"
# prometheus.yml names the rules by their path inside the container; check it against the repo file.
sed "s#/etc/prometheus/rules/\*.yml#$DEPLOY/prometheus/alerts.yml#" "$DEPLOY/compose/prometheus.yml" \
    >"$WORK/prometheus.yml"
"$TOOLS/promtool" check config "$WORK/prometheus.yml"
"$TOOLS/yaml2json" <"$DEPLOY/prometheus/alerts.yml" >"$WORK/alerts.json"
"$TOOLS/yaml2json" <"$DEPLOY/compose/prometheus.yml" >"$WORK/prometheus.json"
done_step

# ------------------------------------------------------------------------------------------------
step "compose (compose-go load + validation)"
"$TOOLS/composecheck" "$DEPLOY/compose/docker-compose.yml" >"$WORK/compose.json"
"$PYTHON" -c 'import json,sys; p=json.load(open(sys.argv[1])); print("services:", " ".join(sorted(p["services"])))' \
    "$WORK/compose.json"
for f in "$DEPLOY"/compose/connect/connectors/*.json "$DEPLOY/grafana/clickgate-dashboard.json"; do
    "$PYTHON" -m json.tool "$f" >/dev/null || die "$f is not valid JSON"
done
# The Connect helper scripts run under busybox/POSIX sh in their containers.
for f in "$DEPLOY"/compose/connect/*.sh; do
    sh -n "$f" || die "$f has a shell syntax error"
done
done_step

# ------------------------------------------------------------------------------------------------
step "Dockerfile (BuildKit parser + parse-time lint rules)"
"$TOOLS/dockerfilecheck" "$DEPLOY/Dockerfile" >"$WORK/dockerfile.json"
"$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); print("stages:", " -> ".join(s["name"] or s["base"] for s in d["stages"]))' \
    "$WORK/dockerfile.json"
done_step

# ------------------------------------------------------------------------------------------------
step "static cross-checks"
"$PYTHON" "$DEPLOY/tools/check_static.py" --deploy "$DEPLOY" \
    --compose-json "$WORK/compose.json" --prometheus-json "$WORK/prometheus.json" \
    --base-json "$WORK/base.json" --prod-json "$WORK/production.json" \
    --dockerfile-json "$WORK/dockerfile.json" --probes-out "$WORK/paths.json"
done_step

# ------------------------------------------------------------------------------------------------
step "live clickgate: metric names, labels, probe paths"
BIN="${CLICKGATE_BIN:-$REPO/target/debug/clickgate}"
if [[ "${DEPLOY_CHECK_SKIP_LIVE:-}" == 1 ]]; then
    echo "SKIPPED (DEPLOY_CHECK_SKIP_LIVE=1): dashboard/alert metric names and probe paths NOT checked"
else
    [[ -x "$BIN" ]] || die "no clickgate binary at $BIN (build it, or set CLICKGATE_BIN)"
    "$PYTHON" "$DEPLOY/tools/check_live.py" --bin "$BIN" --promqlnames "$TOOLS/promqlnames" \
        --dashboard "$DEPLOY/grafana/clickgate-dashboard.json" --alerts-json "$WORK/alerts.json" \
        --paths "$WORK/paths.json" --readme "$REPO/README.md" --src-telemetry "$REPO/src/telemetry.rs" \
        --compose-json "$WORK/compose.json" --k8s-json "base=$WORK/base.json" \
        --k8s-json "production=$WORK/production.json" --example-secret-json "$WORK/example-secret.json"
fi
done_step
