package queue

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
)

// Worker liveness: a dead worker's jobs are taken back within about a minute, whatever
// their kind.
//
// A working client writes a heartbeat every HeartbeatEvery into queue_workers under its
// River client id (the id River records in each job's attempted_by). queue.rescue then also
// takes back every running job whose last attempt belongs to a client whose heartbeat is
// older than DeadAfter: that process was SIGKILLed, ran out of memory or lost its machine.
// So its jobs are available again about DeadAfter + RescueEvery (70 s) after it died,
// instead of their kind's timeout + RescueMargin (rescue.go), or River's 15 minutes for the
// kinds without a short rescue (ingestion). A client that stops cleanly deletes its row;
// a client that never wrote one (an older version during a deploy) is never judged by it.
//
// Why it is safe: a live client refreshes its row every 10 s, so being taken for dead needs
// four missed beats in a row (the database unreachable for 40 s, in which case its jobs'
// own writes fail too); the jobs are idempotent, as every rescued job must be.

// Heartbeat timing (WorkerOptions overrides them in tests).
const (
	HeartbeatEvery = 10 * time.Second
	DeadAfter      = 40 * time.Second
)

// qHeartbeat records that the client is alive.
const qHeartbeat = `
INSERT INTO queue_workers (client_id) VALUES ($1)
ON CONFLICT (client_id) DO UPDATE SET heartbeat_at = now()`

const qHeartbeatStop = `DELETE FROM queue_workers WHERE client_id = $1`

// rescueDeadSQL takes back the running jobs last attempted by a client whose heartbeat is
// older than $1 ms, with the same outcome as rescueSQL (available at once, discarded when no
// attempt is left, cancelled when a cancel was requested).
const rescueDeadSQL = `
WITH dead AS (
    SELECT client_id FROM queue_workers WHERE heartbeat_at < now() - $1 * interval '1 millisecond'
), stuck AS (
    SELECT j.id,
        (j.metadata ->> 'cancel_attempted_at') IS NOT NULL AS cancel,
        j.attempt >= j.max_attempts AS exhausted
    FROM river_job j
    WHERE j.state = 'running'
        AND j.attempted_by[cardinality(j.attempted_by)] IN (SELECT client_id FROM dead)
        AND j.attempted_at < now() - $1 * interval '1 millisecond'
    ORDER BY j.id
    LIMIT $2
    FOR UPDATE OF j SKIP LOCKED
)` + rescueUpdate

// qForgetDead drops the rows of clients dead for an hour (their jobs were taken back long
// before).
const qForgetDead = `DELETE FROM queue_workers WHERE heartbeat_at < now() - interval '1 hour'`

// RescueDead runs one sweep over the jobs of dead clients (heartbeat older than deadAfter)
// and returns the jobs it took back.
func RescueDead(ctx context.Context, db sqlx.ExtContext, deadAfter time.Duration) ([]Rescued, error) {
	var out []Rescued
	for {
		var batch []Rescued
		if err := sqlx.SelectContext(ctx, db, &batch, rescueDeadSQL, deadAfter.Milliseconds(), rescueBatch); err != nil {
			return out, fmt.Errorf("queue: rescue dead workers' jobs: %w", err)
		}
		out = append(out, batch...)
		if len(batch) < rescueBatch {
			break
		}
	}
	if _, err := db.ExecContext(ctx, qForgetDead); err != nil {
		return out, fmt.Errorf("queue: forget dead workers: %w", err)
	}
	return out, nil
}

// heartbeat writes the client's heartbeat at once and then every `every` until stop is
// closed, then deletes it.
func heartbeat(db *sql.DB, clientID string, every time.Duration, log *slog.Logger, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	beat := func() {
		ctx, cancel := context.WithTimeout(context.Background(), every)
		defer cancel()
		if _, err := db.ExecContext(ctx, qHeartbeat, clientID); err != nil {
			log.Warn("queue: heartbeat failed", slog.String("clientId", clientID), slog.String("err", err.Error()))
		}
	}
	beat()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			beat()
		case <-stop:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := db.ExecContext(ctx, qHeartbeatStop, clientID); err != nil {
				log.Warn("queue: heartbeat row not removed", slog.String("clientId", clientID), slog.String("err", err.Error()))
			}
			return
		}
	}
}
