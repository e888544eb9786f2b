FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY bot ./bot
COPY integrations ./integrations
COPY playbooks ./playbooks
RUN pip install -c constraints.txt . && useradd --create-home --uid 10001 ooda && mkdir -p /data && chown ooda /data
USER ooda
ENV DATABASE_URL=sqlite:////data/ooda.db OODA_CONFIG=/data/ooda.yaml
EXPOSE 3000
# `ooda serve` applies migrations before it listens.
ENTRYPOINT ["ooda", "serve", "--host", "0.0.0.0", "--port", "3000"]
