#!/usr/bin/env bash
# deploy/kubernetes and deploy/ci checked offline, with no cluster and no
# GitHub: kustomize builds every overlay and the smoke-test Job; each
# object is checked against the Kubernetes API schemas and for what they
# cannot know (validate_manifests.mjs); the ConfigMaps list every file of
# deploy/config, health-checks and deployments; the checker refuses a
# broken manifest; the workflow passes action-validator's schema. The
# probes' endpoints are exercised against a real mcpvisord in
# tests/monitor/test_monitor.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }

( cd "$here" && npm install --no-audit --no-fund --no-package-lock --loglevel=error )
bin=$here/node_modules/.bin
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# every configuration file is one the ConfigMaps carry
listed=$(grep -o '\.\./\.\./[a-z-]*/[a-z/.-]*\.yaml' "$repo/deploy/kubernetes/config/kustomization.yaml" |
	sed 's|^\.\./\.\./||' | sort)
present=$(cd "$repo/deploy" && ls config/environments/*.yaml config/servers/*.yaml \
	health-checks/*.yaml deployments/*.yaml | sort)
[ "$listed" = "$present" ] ||
	fail "deploy/kubernetes/config lists $(echo $listed), deploy/ holds $(echo $present)"
echo "ok - the ConfigMaps list all $(echo "$present" | wc -l) configuration files"

for d in overlays/development overlays/staging overlays/production smoke-test; do
	name=$(basename "$d")
	"$bin/kustomize" build --load-restrictor LoadRestrictionsNone \
		"$repo/deploy/kubernetes/$d" >"$out/$name.yaml" || fail "kustomize build $d"
	env=; case $d in overlays/*) env=$name ;; esac
	node "$here/validate_manifests.mjs" "$name" "$out/$name.yaml" $env
done

# the checker itself: a probe on the wrong path, a port that is a
# string, a Job that restarts are each refused
sed 's|path: /readyz|path: /healthz|' "$out/production.yaml" >"$out/bad1.yaml"
sed 's|containerPort: 8765|containerPort: monitor|' "$out/production.yaml" >"$out/bad2.yaml"
sed 's|restartPolicy: Never|restartPolicy: OnFailure|' "$out/smoke-test.yaml" >"$out/bad3.yaml"
for b in bad1 bad2 bad3; do
	if node "$here/validate_manifests.mjs" "$b" "$out/$b.yaml" >"$out/$b.log" 2>&1; then
		fail "the checker accepted $b: $(cat "$out/$b.log")"
	fi
done
echo "ok - the checker refuses a wrong probe path, a port that is no number, a Job that restarts"

"$bin/action-validator" "$repo/deploy/ci/github-actions.yml" ||
	fail "deploy/ci/github-actions.yml"
printf 'name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    stepz: []\n' >"$out/bad.yml"
if "$bin/action-validator" "$out/bad.yml" >/dev/null 2>&1; then
	fail "action-validator accepted a job with 'stepz'"
fi
echo "ok - deploy/ci/github-actions.yml is a valid workflow (and a broken one is refused)"
echo "deploy manifests: all passed"
