-- One row per CA check across the fleet. The check events that the nodes logged for one check
-- share its key (`check`) and are merged here: the check's networks are the union of the nodes'
-- source networks, and it is multi-perspective when that union holds two networks or more, the
-- rule each node applies to what it saw alone.
SELECT
    `check`,
    any(ca)                                          AS check_ca,
    any(name)                                        AS check_name,
    any(zone)                                        AS check_zone,
    min(time)                                        AS first_seen,
    sum(queries)                                     AS check_queries,
    arraySort(groupUniqArrayArray(source_networks))  AS fleet_networks,
    length(fleet_networks) >= 2                      AS fleet_multi_perspective,
    arraySort(groupUniqArray(node))                  AS nodes
FROM caapolicy_events
WHERE type = 'check'
GROUP BY `check`
ORDER BY first_seen, `check`
