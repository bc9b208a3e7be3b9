# One image for every Windsock role: `windsock container scheduler|worker|webserver`.
# Built by `cdk deploy` (ContainerImage.from_asset, linux/amd64); see docs/deployment.md.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WINDSOCK_HOME=/opt/windsock/home

# The non-root user the container runs as; it owns only WINDSOCK_HOME (DAGs, plugins, logs).
RUN groupadd --system --gid 10001 windsock \
    && useradd --system --uid 10001 --gid windsock --home-dir /opt/windsock --shell /usr/sbin/nologin windsock \
    && mkdir -p /opt/windsock/home \
    && chown -R windsock:windsock /opt/windsock

WORKDIR /opt/windsock/src
COPY pyproject.toml README.md ./
COPY runtime ./runtime
COPY dag_sync ./dag_sync
# The project itself; its dependency ranges live in pyproject.toml, so DL3013 (pin each name) does not apply.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[aws,postgres,web]" \
    && rm -rf /opt/windsock/src/build

USER 10001:10001
WORKDIR /opt/windsock/home

# ECS sends SIGTERM on stop; the entrypoint forwards it to the component and exits with its code.
STOPSIGNAL SIGTERM
ENTRYPOINT ["windsock"]
CMD ["container", "scheduler"]
