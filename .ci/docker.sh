#!/usr/bin/env bash
# CI: a Docker engine and Docker Compose for the compose drill (tests/drills/test_compose.py),
# and the images docker-compose.yml names, built locally where no registry is reachable.
#
# Installs Debian's docker.io, docker-compose and debootstrap when missing, starts dockerd in
# the background when no engine answers, then builds the stand-in images
# (docker/standins/build.sh: kept between runs, so only a new machine pays for them).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 \
    || missing+=(docker-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || { echo "docker.sh: not root, cannot install ${missing[*]}" >&2; exit 1; }
    echo "docker.sh: installing ${missing[*]}"
    # Another install may hold apt's lock for a few minutes: wait for it.
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
    echo "docker.sh: starting dockerd"
    setsid nohup dockerd >/var/log/evana-dockerd.log 2>&1 </dev/null &
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    docker info >/dev/null 2>&1 || { tail -20 /var/log/evana-dockerd.log >&2; exit 1; }
fi

bash docker/standins/build.sh
echo "docker.sh: Docker $(docker version --format '{{.Server.Version}}'), ready in $((SECONDS - started)) s"
