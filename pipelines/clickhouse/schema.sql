-- caapolicy's JSON lines (log all json FILE), one row per line, from every node of a fleet.
-- Load a node's file with:
--   clickhouse-client --input_format_skip_unknown_fields=1 \
--     --query 'INSERT INTO caapolicy_events FORMAT JSONEachRow' < caapolicy.json
-- (or any log shipper that posts JSONEachRow to ClickHouse's HTTP interface). Fields the table
-- does not name are skipped; query lines and check events share the table, told apart by type.
CREATE TABLE IF NOT EXISTS caapolicy_events (
    type              String,
    time              String,
    node              String,
    `check`           String,
    ca                String,
    name              String,
    zone              String,
    queries           UInt32,
    networks          UInt32,
    multi_perspective UInt8,
    source_networks   Array(String),
    relevant_owner    String
) ENGINE = MergeTree() ORDER BY (type, `check`, node)
