-- Run by the postgres image on the first start of an empty data volume (/docker-entrypoint-initdb.d), as
-- POSTGRES_USER connected to POSTGRES_DB (`airflow`, Airflow's metadata database).
--
-- The staging database of the Qualys CMDB sync, on the same server: the Airflow connection `qualys_cmdb_staging`
-- points at it, and `qcmdb db upgrade` (run by the airflow-init service) creates its tables.
-- On a server that already holds data, run this statement by hand once:
--   docker compose exec postgres psql -U airflow -d airflow -c 'CREATE DATABASE qualys_cmdb'
CREATE DATABASE qualys_cmdb;
