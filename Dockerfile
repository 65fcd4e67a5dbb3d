FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY smartpark smartpark
COPY ingest ingest
COPY processing processing
COPY alerts alerts
COPY api api
COPY dashboards dashboards
COPY simulators simulators
COPY devstack devstack
COPY examples examples
RUN pip install --no-cache-dir . && useradd --system smartpark && mkdir -p /var/lib/smartpark && chown smartpark /var/lib/smartpark
USER smartpark
ENV SMARTPARK_INGEST__SPOOL_DIR=/var/lib/smartpark/spool
ENTRYPOINT ["smartpark"]
