package ingestion

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/axonhq/axon/platform/queue"
	"github.com/axonhq/axon/platform/realtime"
	"github.com/axonhq/axon/platform/storage"
)

// Job settings.
const (
	ingestAttempts = 3
	ingestTimeout  = 10 * time.Minute
	// maxChunks bounds one document; past it the document fails instead of tying up the
	// queue (25 MB of text is about 9,000 chunks of 512 words).
	maxChunks = 10_000
	// sweepEvery and stuckAfter: documents PENDING or PROCESSING for stuckAfter with no
	// live job are marked ERROR by the periodic sweep.
	sweepEvery = 30 * time.Second
	stuckAfter = 30 * time.Minute
	// A worker renews a PROCESSING document's updated_at every heartbeatEvery. One silent
	// for lostAfter died (SIGKILL, OOM, lost machine): the sweep queues a new job at once
	// instead of waiting for River's rescuer (15 min) to notice the job. maxRecoveries
	// bounds how often that happens to one document in an hour, so a document that kills
	// its worker every time ends ERROR instead of looping. lostAfter is longer than the
	// queue's own dead-worker rescue (platform/queue/heartbeat.go: 40 s + a 30 s sweep),
	// which brings the dead attempt's job itself back first; this sweep is the fallback for
	// a worker without a queue heartbeat, and never runs a second job beside the rescued one
	// (two jobs of one document would both announce it READY).
	heartbeatEvery = 10 * time.Second
	lostAfter      = 3 * time.Minute
	maxRecoveries  = 3
)

// IngestDocArgs is the ingestion.ingest_doc job: extract, chunk, embed and store one
// document.
type IngestDocArgs struct {
	DocID string `json:"docId"`
	// Recovery marks a job queued by the sweep after a worker died (counted to stop loops).
	Recovery bool `json:"recovery,omitempty"`
}

// Kind implements river.JobArgs.
func (IngestDocArgs) Kind() string { return "ingestion.ingest_doc" }

// InsertOpts: the ingestion queue, 3 attempts. Jobs are not unique per document: a
// unique job that is still "running" (River keeps that state until its completer flushes,
// after the work has committed) would swallow a reindex issued just then and leave the
// document PENDING. Two jobs of one document are safe: the final write locks the row,
// and unchanged content is not embedded again.
func (IngestDocArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queue.QueueIngestion, MaxAttempts: ingestAttempts}
}

type ingestWorker struct {
	river.WorkerDefaults[IngestDocArgs]
	svc *Service
}

// NextRetry backs off exponentially from RetryBase (2 s), at most 10 minutes.
func (w *ingestWorker) NextRetry(job *river.Job[IngestDocArgs]) time.Time {
	return queue.ExponentialBackoff(job.Attempt, w.svc.retryBase, 10*time.Minute)
}

// Timeout bounds one attempt.
func (w *ingestWorker) Timeout(*river.Job[IngestDocArgs]) time.Duration { return ingestTimeout }

// Work runs one attempt.
func (w *ingestWorker) Work(ctx context.Context, job *river.Job[IngestDocArgs]) error {
	return w.svc.runIngest(withJobID(ctx, job.ID), job.Args.DocID, job.Attempt, job.MaxAttempts)
}

// jobIDKey carries the River job id from Work to the READY write (0 outside a job).
type jobIDKey struct{}

func withJobID(ctx context.Context, id int64) context.Context {
	return context.WithValue(ctx, jobIDKey{}, id)
}

func jobIDFrom(ctx context.Context) int64 {
	id, _ := ctx.Value(jobIDKey{}).(int64)
	return id
}

// runIngest is one attempt of the job. The document ends READY, or ERROR at once for a
// permanent failure (the job is cancelled) or after the last attempt; after an earlier
// failed attempt it is PENDING with an errorMsg that notes the retry.
func (s *Service) runIngest(ctx context.Context, docID string, attempt, maxAttempts int) (err error) {
	if id := jobIDFrom(ctx); id != 0 {
		// This job already made the document READY, and its worker died before River
		// recorded the job completed: it was rescued, and there is nothing left to do.
		if done, err := s.st.readyByJob(ctx, s.db, docID, id); err != nil || done {
			return err
		}
	}
	d, err := s.st.startJob(ctx, s.db, docID) // PROCESSING
	if errors.Is(err, errDocNotFound) {
		return nil // deleted since the job was queued
	}
	if err != nil {
		return err
	}
	stop := s.heartbeat(ctx, docID)
	defer stop()
	defer func() {
		if p := recover(); p != nil {
			err = &ingestError{msg: "Processing failed unexpectedly", permanent: true, cause: fmt.Errorf("panic: %v", p)}
		}
		if err != nil {
			err = s.failed(ctx, d, err, attempt, maxAttempts)
		}
	}()
	return s.ingest(ctx, d)
}

// heartbeat renews the document's updated_at while this attempt runs, so that the sweep
// can tell a live worker from a dead one. The returned func stops it.
func (s *Service) heartbeat(ctx context.Context, docID string) (stop func()) {
	hctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(s.heartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-t.C:
				if err := s.st.heartbeat(hctx, s.db, docID); err != nil && hctx.Err() == nil {
					s.log.Warn("ingestion heartbeat failed", "doc", docID, "err", err)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// failed records a failed attempt on the document and returns what River should see.
func (s *Service) failed(ctx context.Context, d docRow, cause error, attempt, maxAttempts int) error {
	msg, permanent := classify(cause)
	log := s.log.With("doc", d.ID, "attempt", attempt, "maxAttempts", maxAttempts)
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if permanent || attempt >= maxAttempts {
		if err := s.finishError(bg, d, msg); err != nil {
			log.Error("recording ingestion failure failed", "err", err)
			return errors.Join(cause, err)
		}
		if permanent {
			return river.JobCancel(cause)
		}
		return cause
	}
	note := fmt.Sprintf("%s; retrying (attempt %d of %d failed)", msg, attempt, maxAttempts)
	if err := s.st.setStatus(bg, s.db, d.ID, StatusPending, sql.NullString{String: note, Valid: true}); err != nil {
		log.Error("recording ingestion retry failed", "err", err)
	}
	log.Warn("ingestion attempt failed; retrying", "err", cause)
	return cause
}

// finishError marks the document ERROR and publishes knowledge_ready, in one
// transaction. Its chunks (from an earlier successful run) stay stored but are not
// searched, since retrieval only reads READY documents.
func (s *Service) finishError(ctx context.Context, d docRow, msg string) error {
	return s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		cur, err := s.st.lockDoc(ctx, tx, d.ID)
		if errors.Is(err, errDocNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.st.markError(ctx, tx, d.ID, msg); err != nil {
			return err
		}
		return s.publishReady(ctx, tx, cur, StatusError, cur.ChunkCount)
	})
}

// publishReady emits knowledge_ready {docId, agentId, status, chunkCount} on tx.
func (s *Service) publishReady(ctx context.Context, tx *sqlx.Tx, d docRow, status string, chunkCount int) error {
	return s.pub.Publish(ctx, tx, realtime.Event{
		WorkspaceID: d.WorkspaceID,
		Type:        realtime.TypeKnowledgeReady,
		Payload: map[string]any{
			"docId": d.ID, "agentId": d.AgentID, "status": status, "chunkCount": chunkCount,
		},
	})
}

// ingest extracts, chunks, embeds and stores one document.
func (s *Service) ingest(ctx context.Context, d docRow) error {
	ex, err := s.x.extract(ctx, d)
	if err != nil {
		return err
	}
	blocks := ex.blocks
	sha := contentHash(s.embedder.Model(), d.Type, blocks)
	if d.ContentSHA256.Valid && d.ContentSHA256.String == sha {
		n, err := s.st.countChunks(ctx, s.db, d.ID)
		if err != nil {
			return err
		}
		if n > 0 {
			s.log.Info("content unchanged; embedding skipped", "doc", d.ID, "chunks", n)
			return s.finishReady(ctx, d, nil, nil, sha, n, ex.note)
		}
	}

	var chunks []chunk
	if d.Type == TypeQA {
		chunks = blockChunks(blocks)
	} else {
		size := chunkSizes[d.Type]
		chunks = chunkBlocks(blocks, size[0], size[1])
	}
	if len(chunks) == 0 {
		if d.Type == TypePDF {
			return permanentf("No text could be extracted from this PDF (scanned PDFs without a text layer are not supported)")
		}
		return permanentf("No text could be extracted from this document")
	}
	if len(chunks) > maxChunks {
		return permanentf("The document is too large: %d chunks, at most %d", len(chunks), maxChunks)
	}
	texts := make([]string, len(chunks))
	for i, c := range chunks {
		texts[i] = embeddingInput(d.Title, c)
	}
	vecs, err := s.embedder.Embed(ctx, texts)
	if err != nil {
		return err
	}
	if len(vecs) != len(chunks) {
		return fmt.Errorf("embedder returned %d vectors for %d chunks", len(vecs), len(chunks))
	}
	return s.finishReady(ctx, d, chunks, vecs, sha, len(chunks), ex.note)
}

// finishReady replaces the document's chunks (when chunks is not nil) and marks it READY
// with its chunk count, content hash and extraction note (errorMsg, usually empty), publishing knowledge_ready, all in one
// transaction. A document deleted meanwhile is left alone.
//
// The transaction does not follow the job's context: cancelling a lib/pq connection in
// the middle of a COPY races its COPY reader against database/sql's rollback on the same
// connection (seen with -race). A write that has started runs to its end; if the process
// dies instead, Postgres rolls the transaction back when the connection drops.
func (s *Service) finishReady(ctx context.Context, d docRow, chunks []chunk, vecs [][]float32, sha string, n int, note string) error {
	ctx = context.WithoutCancel(ctx)
	return s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		// The READY update comes first: it locks the row (as a SELECT … FOR UPDATE did) and
		// finds a deleted document in the same round trip; the rest of the transaction
		// commits with it or not at all.
		cur, err := s.st.markReady(ctx, tx, d.ID, n, sha, note, jobIDFrom(ctx))
		if errors.Is(err, errDocNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if chunks != nil {
			if err := s.st.replaceChunks(ctx, tx, cur, chunks, vecs, s.newID); err != nil {
				return err
			}
		}
		return s.publishReady(ctx, tx, cur, StatusReady, n)
	})
}

// SweepArgs is the periodic ingestion.sweep_stuck job.
type SweepArgs struct{}

// Kind implements river.JobArgs.
func (SweepArgs) Kind() string { return "ingestion.sweep_stuck" }

// InsertOpts: one attempt; the next tick tries again.
func (SweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queue.QueueDefault, MaxAttempts: 1}
}

type sweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	svc *Service
}

// Timeout bounds one sweep.
func (w *sweepWorker) Timeout(*river.Job[SweepArgs]) time.Duration { return time.Minute }

// Work requeues documents whose worker died and marks orphaned documents ERROR.
func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	if _, err := w.svc.recoverLost(ctx, lostAfter); err != nil {
		return err
	}
	_, err := w.svc.sweepStuck(ctx, stuckAfter)
	return err
}

// recoverLost finds PROCESSING documents whose heartbeat stopped for longer than after —
// their worker died mid-attempt — and, in one transaction each, puts them back to
// PENDING with a new ingestion job. The dead attempt's own job is rescued by River later
// and finds the work done (unchanged content is not embedded again, and the chunk
// replacement is one transaction, so nothing is duplicated). A document recovered
// maxRecoveries times in the last hour ends ERROR. It returns how many it requeued.
func (s *Service) recoverLost(ctx context.Context, after time.Duration) (int, error) {
	ids, err := s.st.lostDocs(ctx, s.db, after)
	if err != nil {
		return 0, err
	}
	requeued := 0
	for _, id := range ids {
		var giveUp, done bool
		err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
			recoveries, err := s.st.lockLostDoc(ctx, tx, id, after)
			if errors.Is(err, errDocNotFound) {
				return nil // finished, deleted or taken by another sweeper meanwhile
			}
			if err != nil {
				return err
			}
			if recoveries >= maxRecoveries {
				giveUp = true
				return nil
			}
			if err := s.st.setStatus(ctx, tx, id, StatusPending,
				sql.NullString{String: "The worker processing this document stopped; retrying", Valid: true}); err != nil {
				return err
			}
			_, err = s.queue.InsertTx(ctx, tx.Tx, IngestDocArgs{DocID: id, Recovery: true}, nil)
			done = err == nil
			return err
		})
		if err != nil {
			return requeued, err
		}
		if giveUp {
			if err := s.finishError(ctx, docRow{ID: id}, "Processing stopped repeatedly; the document may be too large or malformed"); err != nil {
				return requeued, err
			}
			s.log.Warn("document abandoned after repeated lost workers", slog.String("doc", id))
			continue
		}
		if done {
			requeued++
			s.log.Warn("document's worker was lost; requeued", slog.String("doc", id))
		}
	}
	return requeued, nil
}

// sweepStuck marks ERROR the documents PENDING or PROCESSING for longer than after with
// no live ingestion job (for example when the worker was killed during the last
// attempt and River's rescuer discarded the job). It returns how many it marked.
func (s *Service) sweepStuck(ctx context.Context, after time.Duration) (int, error) {
	ids, err := s.st.stuckDocs(ctx, s.db, after)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		if err := s.finishError(ctx, docRow{ID: id}, "Processing stopped unexpectedly; reindex the document to try again"); err != nil {
			return 0, err
		}
		s.log.Warn("orphaned document marked ERROR", slog.String("doc", id))
	}
	return len(ids), nil
}

// DeleteFilesArgs is the ingestion.delete_files job: remove stored files of documents that
// were deleted in bulk (an agent's delete). Queued in the deleting transaction.
type DeleteFilesArgs struct {
	Keys []string `json:"keys"`
}

// Kind implements river.JobArgs.
func (DeleteFilesArgs) Kind() string { return "ingestion.delete_files" }

// InsertOpts: the default queue, 5 attempts (storage outages are retried).
func (DeleteFilesArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queue.QueueDefault, MaxAttempts: 5}
}

type deleteFilesWorker struct {
	river.WorkerDefaults[DeleteFilesArgs]
	svc *Service
}

// Timeout bounds one attempt.
func (w *deleteFilesWorker) Timeout(*river.Job[DeleteFilesArgs]) time.Duration {
	return 2 * time.Minute
}

// Work deletes every key; a missing file is already gone (idempotent), any other failure
// retries the job (keys deleted earlier are then missing, which is fine).
func (w *deleteFilesWorker) Work(ctx context.Context, job *river.Job[DeleteFilesArgs]) error {
	var errs []error
	for _, key := range job.Args.Keys {
		if err := w.svc.files.Delete(ctx, key); err != nil && !errors.Is(err, storage.ErrNotFound) {
			errs = append(errs, fmt.Errorf("delete %s: %w", key, err))
		}
	}
	return errors.Join(errs...)
}

// removeAgentKnowledge deletes the agent's documents on tx and queues their files' deletion.
func (s *Service) removeAgentKnowledge(ctx context.Context, tx *sqlx.Tx, workspaceID, agentID string) error {
	files, err := s.st.deleteAgentDocs(ctx, tx, workspaceID, agentID)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return nil
	}
	_, err = s.queue.InsertTx(ctx, tx.Tx, DeleteFilesArgs{Keys: files}, nil)
	return err
}
