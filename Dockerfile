# The code location's image: the code server, the webserver, the daemon and
# every run (docker-compose.yml). BASE_IMAGE is a Debian 12 Python 3.11 image;
# point it at your registry's mirror where Docker Hub is out of reach.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

# What the steps of a release call besides Python: git (checkout), node and npm
# (the services' stages), nginx (test and reload the load balancer's config),
# pg_dump and pg_restore (migration backups). Docker is reached through the
# mounted socket with the Docker SDK, so no Docker CLI. Trivy is not in Debian:
# add it from your mirror and set RELEASE_REQUIRE_SCAN=true (the default in
# docker-compose.yml), or every release stops at the scan.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates git nginx-light nodejs npm postgresql-client \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/release_pipeline
COPY pyproject.toml ./
COPY release_pipeline ./release_pipeline
RUN pip install --no-cache-dir .

ENV DAGSTER_HOME=/opt/dagster/dagster_home
COPY deploy/dagster.yaml /opt/dagster/dagster_home/dagster.yaml
COPY deploy/workspace.yaml /opt/dagster/workspace.yaml

# Dagster's CLI loads a .env from its working directory; this one has none.
WORKDIR /opt/dagster
