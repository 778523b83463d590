# syntax=docker/dockerfile:1
#
# The production image of the Qualys CMDB sync: Airflow's official image, of the same version as requirements.txt's
# apache-airflow pin, with the pinned requirements, the project installed from its wheel (not editable) and the DAG
# files, configuration and mappings. It holds no credentials: connections come at run time, as AIRFLOW_CONN_<ID>
# variables or from a secrets backend (see docker-compose.yaml and .env.example).
#
#   docker build -t qualys-cmdb-sync:0.1.0 .

# --- builder: the project's wheel --------------------------------------------------------------------------------
FROM apache/airflow:3.3.2-python3.11 AS builder
COPY --chown=airflow:0 . /tmp/qualys-cmdb-sync
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /tmp/wheels /tmp/qualys-cmdb-sync

# --- the image ---------------------------------------------------------------------------------------------------
FROM apache/airflow:3.3.2-python3.11
LABEL org.opencontainers.image.title="qualys-cmdb-sync" \
      org.opencontainers.image.description="Qualys <-> ServiceNow CMDB sync as an Apache Airflow 3 DAG package" \
      org.opencontainers.image.licenses="Apache-2.0"

# The exact pins first (a layer that changes only with requirements.txt), keeping the image's Airflow version.
COPY --chown=airflow:0 requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /tmp/requirements.txt

# Then the project's wheel; its dependencies must already be satisfied by the pins (-c makes pip check so).
RUN --mount=type=bind,from=builder,source=/tmp/wheels,target=/tmp/wheels \
    pip install --no-cache-dir -c /tmp/requirements.txt /tmp/wheels/*.whl

# The DAG folder, and the configuration and mappings the compose file's QUALYS_CMDB_CONFIG / QUALYS_CMDB_MAPPINGS
# name (a file or folder mounted at the same path replaces them); auth/ holds SimpleAuthManager's password file.
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 include/ /opt/airflow/include/
RUN mkdir -p -m 0770 /opt/airflow/auth
ENV QUALYS_CMDB_CONFIG=/opt/airflow/include/config/qualys_cmdb.yaml \
    QUALYS_CMDB_MAPPINGS=/opt/airflow/include/mappings
