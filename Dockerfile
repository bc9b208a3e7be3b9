# One image for every Windsock role: `windsock container scheduler|worker|webserver`.
# Built by `cdk deploy` (ContainerImage.from_asset, linux/amd64); see docs/deployment.md.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WINDSOCK_HOME=/opt/windsock/home \
    HOME=/opt/windsock/home

# The non-root user the container runs as; it owns only WINDSOCK_HOME (DAGs, plugins, logs).
RUN groupadd --system --gid 10001 windsock \
    && useradd --system --uid 10001 --gid windsock --home-dir /opt/windsock/home --shell /usr/sbin/nologin windsock \
    && mkdir -p /opt/windsock/home \
    && chown windsock:windsock /opt/windsock/home

# Layer 1: the locked dependencies (hashes checked, nothing resolved). Only a change of the lock
# or the recipe rebuilds it; a code change does not reinstall them.
COPY runtime/container/install.sh runtime/container/requirements.lock /opt/windsock/recipe/
RUN sh /opt/windsock/recipe/install.sh deps

# Layer 2: the supported Airflow provider packages, as MWAA ships them (docs/providers.md): their own
# dependencies from a hash-checked lock, then the providers without apache-airflow (Windsock replaces it).
COPY runtime/container/providers.in runtime/container/providers-deps.lock /opt/windsock/recipe/
RUN sh /opt/windsock/recipe/install.sh providers

# Layer 3: Windsock itself, no dependency touched, then `pip check`.
WORKDIR /opt/windsock/src
COPY pyproject.toml README.md ./
COPY runtime ./runtime
COPY dag_sync ./dag_sync
RUN sh /opt/windsock/recipe/install.sh project . \
    && rm -rf build ./*.egg-info

# ECS runs the root filesystem read-only; these two stay writable. Fargate mounts a task volume on
# each and copies the image's directory (owner and mode included) into it.
VOLUME ["/opt/windsock/home", "/tmp"]

USER 10001:10001
WORKDIR /opt/windsock/home

# ECS sends SIGTERM on stop; the entrypoint forwards it to the component and exits with its code.
STOPSIGNAL SIGTERM
ENTRYPOINT ["windsock"]
CMD ["container", "scheduler"]
