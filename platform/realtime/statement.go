package realtime

import "strconv"

// Publishing from the caller's own statement. Publish is a statement of its own after the
// write it reports: one more round trip in the writer's transaction, and a transaction where
// one autocommit statement would otherwise do. A store whose event can be built from the
// rows its statement writes adds EventCTE to that statement instead: the same row in
// realtime_events and the same notification as Publish's, delivered when the statement's
// transaction commits (docs/decisions.md, "Events written by the statement that causes
// them").

// EventCTE returns the SQL of a data-modifying CTE, `name AS (…)`, that publishes one event
// for each row of from (the FROM list of the CTE's SELECT, e.g. "m" or "m, c"). ws, conv,
// typ and payload are SQL expressions over those rows: the workspace id, the conversation id
// (NULL or ” for none), the event type (without ':') and the payload (jsonb; JSONTime
// writes a timestamp as Publish's JSON does). Postgres runs a data-modifying CTE to
// completion whether or not the statement reads it; it yields nothing worth reading.
func EventCTE(name, from, ws, conv, typ, payload string) string {
	return name + ` AS (
    INSERT INTO realtime_events (workspace_id, conversation_id, type, payload)
    SELECT (` + ws + `)::uuid, NULLIF((` + conv + `)::text, '')::uuid, ` + typ + `, ` + payload + `
    FROM ` + from + `
    RETURNING pg_notify('` + Channel + `', id::text || ':' || workspace_id::text || CASE
        WHEN 3 + octet_length(COALESCE(conversation_id::text, '')) + octet_length(type) + octet_length(payload::text) <= ` + strconv.Itoa(inlineMax) + `
        THEN ':' || COALESCE(conversation_id::text, '') || ':' || type || ':' || payload::text
        ELSE '' END)
)`
}

// JSONTime returns the SQL of expr (a timestamptz) as a jsonb string in the form
// encoding/json gives a UTC time.Time ("2006-01-02T15:04:05.999999Z": RFC 3339, trailing
// zeros of the fraction dropped), so an event built in SQL carries the same createdAt text as
// one built in Go.
func JSONTime(expr string) string {
	return `to_jsonb(rtrim(rtrim(to_char((` + expr + `) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '0'), '.') || 'Z')`
}
