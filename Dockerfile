# One image for every Airflow service of docker-compose.yml (api-server, scheduler,
# dag-processor, triggerer, Celery workers, airflow-init): the project installed from
# uv.lock, exactly as bin/bootstrap installs it, without the dev group.
FROM python:3.11-slim-bookworm

ARG UV_VERSION=0.13.9
ARG AIRFLOW_UID=50000

ENV PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/cdw/.venv \
    AIRFLOW_HOME=/opt/airflow \
    PATH=/opt/cdw/.venv/bin:$PATH

RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
    && useradd --uid "${AIRFLOW_UID}" --gid 0 --home-dir /opt/airflow --create-home airflow

WORKDIR /opt/cdw

# Dependencies first (a layer that changes only with the lock file), then the project.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project --python /usr/local/bin/python3.11
COPY plugins ./plugins
COPY dags ./dags
COPY dbt_project ./dbt_project
COPY expectations ./expectations
RUN uv sync --frozen --no-dev --python /usr/local/bin/python3.11 \
    && rm -rf dbt_project/target dbt_project/target_cosmos dbt_project/logs \
    # The manifest Cosmos renders the DAG from, built once into the image: every service
    # then parses the same DAG version (airflow-init rebuilds it only if the project changed).
    && python -c "from cdw.airflow_home import ensure_cosmos_manifest; ensure_cosmos_manifest()" \
    # the mount points of named volumes exist in the image, so a new volume is the airflow user's
    && mkdir -p /opt/airflow/plugins /opt/airflow/logs /opt/airflow/cdw/reports /opt/cdw/landing \
    && chown -R "${AIRFLOW_UID}:0" /opt/airflow /opt/cdw/dbt_project \
    && chmod -R g+w /opt/airflow /opt/cdw/dbt_project

USER ${AIRFLOW_UID}
ENTRYPOINT ["airflow"]
CMD ["version"]
