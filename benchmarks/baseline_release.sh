#!/usr/bin/env bash
# The seed Jenkins pipeline's backend release as plain commands run back to
# back: the baseline of benchmarks/bench_blue_green.py. Same tools as the
# pipeline, none of its checks beyond the health loop.
#
# Usage: baseline_release.sh VERSION
# Needs the sandbox's variables (docs/contracts.md): DOCKER_HOST, REGISTRY_*,
# NGINX_*, RELEASE_GIT_URL, RELEASE_WORK_DIR, RELEASE_BASE_IMAGE, RELEASE_ENVIRONMENT.
# HEALTH_RETRIES and HEALTH_INTERVAL_SECONDS tune the health loop.
set -euo pipefail

version=${1:?usage: baseline_release.sh VERSION}
health_retries=${HEALTH_RETRIES:-10}
health_interval=${HEALTH_INTERVAL_SECONDS:-0.5}
service=backend
port=3001
repository="$REGISTRY_URL/backend-api"
env_label="release_pipeline.environment=$RELEASE_ENVIRONMENT"
upstream_file="$NGINX_UPSTREAM_DIR/$service.conf"

# The engine is Debian's 20.10 (API 1.41) without buildx; the CLI is v28.
export DOCKER_API_VERSION=${DOCKER_API_VERSION:-1.41}
export DOCKER_BUILDKIT=0
work=$(mktemp -d "$RELEASE_WORK_DIR/baseline-$version.XXXXXX")
export DOCKER_CONFIG="$work/docker-config" # docker login stays inside this release
test_container="$service-test-sh-$RELEASE_ENVIRONMENT"
trap 'docker rm -f "$test_container" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

host_port() { docker port "$1" "$port/tcp" | head -n1 | sed 's/.*://'; }
fact() { sed -n "1s/.* $1=\([^ ]*\).*/\1/p" "$upstream_file"; }

echo "== checkout"
git clone --quiet --branch main "$RELEASE_GIT_URL" "$work/src"
commit=$(git -C "$work/src" rev-parse HEAD)
cd "$work/src/apps/$service"

echo "== stages"
npm ci
npm run lint
npm run type-check
npm run test:ci
npm run build

echo "== image"
docker build --quiet --build-arg "BASE_IMAGE=$RELEASE_BASE_IMAGE" \
  -t "$repository:$version" -t "$repository:latest" .

echo "== integration test"
docker run --detach --name "$test_container" --label "$env_label" -p "127.0.0.1::$port" \
  -e "APP_VERSION=$version" -e APP_COLOR=test -e "APP_COMMIT=$commit" "$repository:$version"
API_URL="http://127.0.0.1:$(host_port "$test_container")" npm run test:integration
docker rm -f "$test_container" >/dev/null

echo "== push"
printf '%s' "$REGISTRY_PASSWORD" |
  docker login --username "$REGISTRY_USERNAME" --password-stdin "$REGISTRY_URL"
docker push --quiet "$repository:$version"
docker push --quiet "$repository:latest"

echo "== deploy"
active=$(fact active)
active=${active:-none}
if [ "$active" = blue ]; then idle=green; else idle=blue; fi
name="$service-$idle-$RELEASE_ENVIRONMENT"
docker rm -f "$name" >/dev/null 2>&1 || true
docker run --detach --name "$name" -p "127.0.0.1::$port" --label "$env_label" \
  --label "release_pipeline.service=$service" --label "release_pipeline.color=$idle" \
  --label "release_pipeline.version=$version" --label "release_pipeline.commit=$commit" \
  -e NODE_ENV=production -e "PORT=$port" \
  -e "APP_VERSION=$version" -e "APP_COLOR=$idle" -e "APP_COMMIT=$commit" "$repository:$version"
address="127.0.0.1:$(host_port "$name")"

healthy=
for _ in $(seq "$health_retries"); do
  if curl -fsS --max-time 5 "http://$address/health" | grep -q "\"version\":\"$version\""; then
    healthy=yes
    break
  fi
  sleep "$health_interval"
done
if [ -z "$healthy" ]; then
  echo "$name never answered healthy with version $version" >&2
  docker rm -f "$name" >/dev/null
  exit 1
fi

echo "== switch $service to $idle"
# Same header as the pipeline writes, so either can release after the other.
cat >"$upstream_file.tmp" <<EOF
# release_pipeline: active=$idle version=$version image=$repository:$version commit=$commit container=$name previous=$active previous_version=$(fact version) previous_image=$(fact image) previous_commit=$(fact commit)
upstream $service {
    server $address weight=100;
}
EOF
mv -f "$upstream_file.tmp" "$upstream_file"
"$NGINX_BIN" -p "$NGINX_PREFIX" -c "$NGINX_CONF" -s reload

if [ "$active" != none ]; then
  echo "== stop $service $active"
  docker rm -f "$service-$active-$RELEASE_ENVIRONMENT" >/dev/null 2>&1 || true
fi
echo "released $service $version on $idle"
