# syntax=docker/dockerfile:1
# Dialtone's container image (docs/operations.md, "Container image"): one image, four commands
# (web, scheduler, run, upgrade; docker/entrypoint.sh). Build: docker build -t dialtone .
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# -- builder: Dialtone and its dependencies installed into a virtual environment ----------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/dialtone
WORKDIR /src
# The dependencies first (a layer reused until pyproject.toml changes), then the code.
COPY pyproject.toml README.md ./
RUN /opt/dialtone/bin/python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > /tmp/requirements.txt \
 && /opt/dialtone/bin/pip install -r /tmp/requirements.txt
COPY dialtone ./dialtone
COPY engine ./engine
COPY collectors ./collectors
COPY notifiers ./notifiers
COPY web ./web
COPY policies ./policies
RUN /opt/dialtone/bin/pip install --no-deps . && /opt/dialtone/bin/dialtone --help >/dev/null

# -- runtime: the virtual environment only; no compilers, no build tools, not root ---------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 dialtone \
 && useradd --system --uid 10001 --gid dialtone --home-dir /var/lib/dialtone --shell /usr/sbin/nologin dialtone \
 && mkdir -p /var/lib/dialtone /etc/dialtone /run/dialtone \
 && chown dialtone:dialtone /var/lib/dialtone /run/dialtone && chmod 0700 /var/lib/dialtone /run/dialtone
COPY --from=builder /opt/dialtone /opt/dialtone
COPY docker/dialtone.yaml /etc/dialtone/dialtone.yaml
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/dialtone-entrypoint
ENV PATH=/opt/dialtone/bin:$PATH \
    DIALTONE_CONFIG=/etc/dialtone/dialtone.yaml \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
WORKDIR /var/lib/dialtone
VOLUME ["/var/lib/dialtone"]
EXPOSE 8080
# Every container of the image inherits this check, whatever its command: the entrypoint's
# `healthcheck` polls /healthz for `web` only, and for `scheduler`, `run` and `upgrade` checks that
# their process runs (docker/entrypoint.sh). compose.yaml checks /readyz for the web service.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["dialtone-entrypoint", "healthcheck"]
ENTRYPOINT ["dialtone-entrypoint"]
CMD ["web"]
