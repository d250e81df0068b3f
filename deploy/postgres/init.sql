-- One database per service (DESIGN.md: no service reads another's tables). The postgres image runs
-- this once, when its data volume is empty; `docker compose down -v` starts over.
-- Each service's migrations create its tables; the gateway keeps no database.
-- Keep in sync with deploy/k8s/overlays/dev/postgres.yaml.
CREATE DATABASE crm_customer;
CREATE DATABASE crm_scoring;
CREATE DATABASE crm_churn;
CREATE DATABASE crm_campaign;
CREATE DATABASE crm_webhooks;
