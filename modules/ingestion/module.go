// Package ingestion owns each agent's knowledge base: documents (TEXT, QA, URL, SITEMAP,
// YOUTUBE and uploaded files), their ingestion into chunks embedded in pgvector, uploads
// to storage, and retrieval.
//
// Creating or reindexing a document writes the row (status PENDING) and its
// ingestion.ingest_doc job in one transaction. The job extracts the text (fetching URLs
// under a private-address policy checked at dial time), chunks it by words with overlap,
// embeds the chunks and replaces the document's chunks in one transaction (DELETE plus a
// bulk COPY), then marks the document READY and publishes knowledge_ready in the same
// transaction. A re-run therefore never leaves duplicates or a half-written document, and
// content whose hash is unchanged is not embedded again. Failures end in ERROR with an
// errorMsg: at once when retrying cannot help, after the last attempt otherwise.
//
// Other modules retrieve knowledge through the Retriever contract.
package ingestion

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"

	"github.com/axonhq/axon/platform/ai"
	"github.com/axonhq/axon/platform/cache"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/queue"
	"github.com/axonhq/axon/platform/realtime"
	"github.com/axonhq/axon/platform/storage"
)

// AgentChecker tells whether an agent exists in a workspace. Exists returns nil, or an
// apperr NOT_FOUND error for an unknown, deleted or other-workspace agent. The agents
// module's Directory implements it.
type AgentChecker interface {
	Exists(ctx context.Context, workspaceID, agentID string) error
}

// Deps are what the module needs.
type Deps struct {
	DB        *pg.DB
	Queue     queue.Inserter
	Publisher realtime.Publisher
	Cache     cache.Cache // query embeddings, 1 h
	Embedder  ai.Embedder
	Store     storage.Store
	// Local is the local directory store when Store is one; it mounts
	// PUT /v1/storage/local/* to receive the uploads its presigned URLs point at.
	Local  *storage.Local
	Agents AgentChecker
	// Authed is the middleware chain of every dashboard route (kernel.Deps.Authed).
	Authed []echo.MiddlewareFunc
	Log    *slog.Logger

	// AllowPrivate (INGEST_ALLOW_PRIVATE) lets URL and SITEMAP documents fetch private
	// and loopback addresses.
	AllowPrivate bool
	// YouTubeTranscriptURL is the base of the timedtext endpoint
	// (YOUTUBE_TRANSCRIPT_BASE_URL; default https://www.youtube.com).
	YouTubeTranscriptURL string
	// MinSimilarity is the retrieval threshold (RAG_MIN_SIMILARITY); 0 picks the
	// embedder's default (ai.OfflineMinSimilarity or ai.OpenAIMinSimilarity).
	MinSimilarity float64

	// AllowAddrs are dial addresses ("127.0.0.1:8080") exempt from the private-address
	// policy while it stays on for every other address. Tests use it for httptest servers.
	AllowAddrs []string
	// RetryBase is the first backoff between job attempts (default 2 s, doubling).
	RetryBase time.Duration
	// ExtractCommand is the argv (before KIND) of the child process that parses uploaded
	// files and fetched pages: by default this executable with the hidden
	// "extract-child" subcommand, which must then call ExtractChildMain (main.go does; a
	// test binary does it in its TestMain).
	ExtractCommand []string
}

// Module is the ingestion module.
type Module struct {
	svc    *Service
	authed []echo.MiddlewareFunc
	local  *storage.Local
}

// New builds the module.
func New(d Deps) (*Module, error) {
	switch {
	case d.DB == nil, d.Queue == nil, d.Publisher == nil, d.Cache == nil, d.Embedder == nil,
		d.Store == nil, d.Agents == nil, d.Log == nil:
		return nil, fmt.Errorf("ingestion: DB, Queue, Publisher, Cache, Embedder, Store, Agents and Log are required")
	case len(d.Authed) == 0:
		return nil, fmt.Errorf("ingestion: the Authed middleware chain is required")
	}
	if d.Embedder.Dimensions() != ai.EmbeddingDimensions {
		return nil, fmt.Errorf("ingestion: embedder returns %d dimensions, knowledge_chunks holds %d", d.Embedder.Dimensions(), ai.EmbeddingDimensions)
	}
	if d.RetryBase <= 0 {
		d.RetryBase = 2 * time.Second
	}
	if d.MinSimilarity <= 0 {
		d.MinSimilarity = ai.OpenAIMinSimilarity
		if d.Embedder.Model() == ai.OfflineEmbeddingModel {
			d.MinSimilarity = ai.OfflineMinSimilarity
		}
	}
	sb, err := newSandbox(d.ExtractCommand)
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath(pdftotext); err != nil {
		d.Log.Warn("pdftotext (poppler-utils) is not installed: PDF documents will fail until it is")
	}
	svc := &Service{
		vocab: &vocabCache{},
		db:    d.DB, queue: d.Queue, pub: d.Publisher, cache: d.Cache, embedder: d.Embedder,
		files: d.Store, local: d.Local, agents: d.Agents, log: d.Log,
		minSimilarity: d.MinSimilarity, retryBase: d.RetryBase, heartbeatEvery: heartbeatEvery,
		x: &extractor{
			fetch:       newFetcher(d.AllowPrivate, d.AllowAddrs),
			transcripts: newTranscriptClient(d.YouTubeTranscriptURL),
			store:       d.Store,
			log:         d.Log,
			sandbox:     sb,
		},
		newID: pg.NewID,
		now:   time.Now,
	}
	return &Module{svc: svc, authed: d.Authed, local: d.Local}, nil
}

// Name implements kernel.Module.
func (m *Module) Name() string { return "ingestion" }

// Workers registers ingestion.ingest_doc and ingestion.sweep_stuck.
func (m *Module) Workers(w *river.Workers) error {
	if err := river.AddWorkerSafely(w, &ingestWorker{svc: m.svc}); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(w, &deleteFilesWorker{svc: m.svc}); err != nil {
		return err
	}
	return river.AddWorkerSafely(w, &sweepWorker{svc: m.svc})
}

// The agents routes' knowledge contract (agents.KnowledgeBase).

// DocCounts returns how many documents each of the agents has, in one query; an agent
// without documents is absent from the map.
func (m *Module) DocCounts(ctx context.Context, workspaceID string, agentIDs []string) (map[string]int, error) {
	return m.svc.DocCounts(ctx, workspaceID, agentIDs)
}

// StatusCounts returns the agent's documents per status and the sum of their chunk counts.
func (m *Module) StatusCounts(ctx context.Context, workspaceID, agentID string) (map[string]int, int, error) {
	return m.svc.StatusCounts(ctx, workspaceID, agentID)
}

// RemoveAgentKnowledge deletes every document of an agent (chunks cascade) inside the
// caller's transaction (the agents module's delete) and queues the deletion of their
// stored files in the same transaction, so files go only if the delete commits.
func (m *Module) RemoveAgentKnowledge(ctx context.Context, tx *sqlx.Tx, workspaceID, agentID string) error {
	return m.svc.removeAgentKnowledge(ctx, tx, workspaceID, agentID)
}

// PeriodicJobs implements kernel.Scheduler: the sweep for documents orphaned in PENDING or
// PROCESSING.
func (m *Module) PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{
		// RunOnStart: a worker restarted after a crash recovers its lost documents at once.
		river.NewPeriodicJob(river.PeriodicInterval(sweepEvery), func() (river.JobArgs, *river.InsertOpts) {
			return SweepArgs{}, nil
		}, &river.PeriodicJobOpts{RunOnStart: true}),
	}
}

// Retriever returns the retrieval contract for the chat pipeline.
func (m *Module) Retriever() Retriever { return m.svc }

// MinSimilarity is the retrieval threshold in use: RAG_MIN_SIMILARITY, or the embedder's
// default when it is unset. The chat responder retrieves with it too.
func (m *Module) MinSimilarity() float64 { return m.svc.minSimilarity }
