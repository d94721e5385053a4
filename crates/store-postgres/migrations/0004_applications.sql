-- Applications: created through the API or seeded from the configuration. A deleted one
-- keeps its row, so its id is never reused; its name and client token are free again.
CREATE TABLE applications (
    account        TEXT    NOT NULL,
    id             TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    template_id    TEXT    NOT NULL,
    resource_group TEXT,
    area_id        TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    variables      TEXT    NOT NULL,
    configuration  TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    deploy_percent DOUBLE PRECISION NOT NULL,
    error          TEXT    NOT NULL,
    checklist      TEXT    NOT NULL,
    price_list     TEXT    NOT NULL,
    client_token   TEXT,
    fingerprint    TEXT    NOT NULL,
    deleted        BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (account, id)
);

CREATE UNIQUE INDEX applications_name
    ON applications (account, name) WHERE NOT deleted;
CREATE UNIQUE INDEX applications_client_token
    ON applications (account, client_token) WHERE client_token IS NOT NULL AND NOT deleted;
CREATE INDEX resources_by_application
    ON resources (account, application) WHERE NOT deleted;
