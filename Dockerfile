# ooda-bot. Build from the repository root:  docker build -t ooda-bot .
# Run:  docker run -p 3000:3000 --env-file .env -v ooda-data:/data ooda-bot
#       docker run --rm --env-file .env -v ooda-data:/data ooda-bot db upgrade   (any command)

# -- build: the project and its dependencies, at the exact versions of constraints.txt, in a venv
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY bot ./bot
COPY integrations ./integrations
COPY playbooks ./playbooks
# The otel extra too: traces are then one OTEL_EXPORTER_OTLP_ENDPOINT away.
RUN python -m venv /opt/ooda && /opt/ooda/bin/pip install -c constraints.txt '.[otel]'

# -- run: the venv alone (no sources, no build cache), as a user without privileges
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/ooda/bin:$PATH \
    DATABASE_URL=sqlite:////data/ooda.db OODA_CONFIG=/data/ooda.yaml
COPY --from=build /opt/ooda /opt/ooda
RUN useradd --create-home --uid 10001 ooda && mkdir -p /data && chown ooda /data
USER ooda
WORKDIR /data
# The SQLite database and OODA_CONFIG by default; with PostgreSQL only the config lives here.
VOLUME /data
EXPOSE 3000
# Liveness with what the image already has: Python. (Readiness is /readyz, for a load balancer.)
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=4).status != 200)"]
# `ooda serve` applies migrations before it listens; any other command runs as given.
ENTRYPOINT ["ooda"]
CMD ["serve", "--host", "0.0.0.0", "--port", "3000"]
