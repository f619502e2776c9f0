package ingestion

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/platform/ai"
	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/cache"
	"github.com/axonhq/axon/platform/page"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/queue"
	"github.com/axonhq/axon/platform/realtime"
	"github.com/axonhq/axon/platform/storage"
)

// Service is the knowledge business logic; it never sees echo.
type Service struct {
	db            *pg.DB
	queue         queue.Inserter
	pub           realtime.Publisher
	cache         cache.Cache
	embedder      ai.Embedder
	st            store         // SQL
	files         storage.Store // uploaded files
	local         *storage.Local
	agents        AgentChecker
	log           *slog.Logger
	x             *extractor
	minSimilarity float64
	vocab         *vocabCache // per-agent vocabularies for the offline query's typo correction
	retryBase     time.Duration
	// heartbeatEvery is how often a running attempt renews its document (tests shorten it).
	heartbeatEvery time.Duration
	newID          func() string
	now            func() time.Time
}

var (
	errDocNotFound = apperr.NotFoundf("Document")
	errUploadInUse = apperr.E(apperr.Conflict, "This upload is already used by another document")
)

// CreateInput is a validated request to add a document. Exactly the fields of its type
// are set: Content for TEXT and QA, SourceURL for URL, SITEMAP and YOUTUBE, StorageKey for
// PDF and FILE.
type CreateInput struct {
	Type       string
	Title      string
	Content    string
	SourceURL  string
	StorageKey string
}

// CreateDoc stores a PENDING document and its ingestion job in one transaction. For an
// uploaded file it first checks that the object exists in the caller's workspace with an
// allowed type and size and that its first bytes match the type (PDF header, zip archive,
// text without NUL bytes); the stored type is PDF for a .pdf and FILE for the others.
// Errors: NOT_FOUND for an unknown agent; VALIDATION_ERROR for a key of another workspace
// or without an object; 413/415 for a file that breaks the upload rules; CONFLICT for an
// upload that another document already uses.
func (s *Service) CreateDoc(ctx context.Context, workspaceID, agentID string, in CreateInput) (docRow, error) {
	if err := s.agents.Exists(ctx, workspaceID, agentID); err != nil {
		return docRow{}, err
	}
	row := docRow{
		ID: s.newID(), WorkspaceID: workspaceID, AgentID: agentID, Type: in.Type, Title: in.Title,
	}
	switch in.Type {
	case TypeText, TypeQA:
		row.RawContent = sql.NullString{String: in.Content, Valid: true}
	case TypeURL, TypeSitemap, TypeYouTube:
		row.SourceURL = sql.NullString{String: in.SourceURL, Valid: true}
	case TypePDF, TypeFile:
		typ, err := s.checkUpload(ctx, workspaceID, in.StorageKey)
		if err != nil {
			return docRow{}, err
		}
		row.Type = typ
		row.StorageKey = sql.NullString{String: in.StorageKey, Valid: true}
	default:
		return docRow{}, apperr.ValidationFields(map[string]string{"type": "is not a document type"})
	}
	var out docRow
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		if out, err = s.st.insertDoc(ctx, tx, row); err != nil {
			return err
		}
		_, err = s.queue.InsertTx(ctx, tx.Tx, IngestDocArgs{DocID: out.ID}, nil)
		return err
	})
	return out, err
}

// uploadRejected is a file whose content breaks the upload rules; it is removed from
// storage so that nothing of the refused upload stays behind.
func (s *Service) uploadRejected(ctx context.Context, key string, err *apperr.Error) error {
	if derr := s.files.Delete(context.WithoutCancel(ctx), key); derr != nil {
		s.log.Warn("deleting a rejected upload failed", "key", key, "err", derr)
	}
	return err
}

// checkUpload validates an uploaded object before a document refers to it and returns
// the document type for it.
func (s *Service) checkUpload(ctx context.Context, workspaceID, key string) (string, error) {
	notHere := apperr.ValidationFields(map[string]string{"storageKey": "no file was uploaded under this key in this workspace"})
	if !storage.KeyBelongsTo(key, workspaceID) {
		return "", notHere
	}
	rc, obj, err := s.files.Open(ctx, key)
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrInvalid):
		return "", notHere
	case err != nil:
		return "", fmt.Errorf("open upload %s: %w", key, err)
	}
	defer rc.Close()
	if _, err := storage.ValidateUpload(path.Base(key), obj.ContentType, obj.Size); err != nil {
		switch {
		case errors.Is(err, storage.ErrTooLarge):
			return "", s.uploadRejected(ctx, key, apperr.E(apperr.PayloadTooLarge, fmt.Sprintf("The uploaded file is larger than %d MB", storage.MaxUploadBytes>>20)))
		case errors.Is(err, storage.ErrUnsupportedType):
			return "", s.uploadRejected(ctx, key, apperr.E(apperr.UnsupportedMediaType, "The uploaded file's content type does not match its extension or is not allowed (PDF, TXT, MD, DOCX, HTML, CSV)"))
		default:
			return "", s.uploadRejected(ctx, key, apperr.ValidationFields(map[string]string{"storageKey": "the uploaded file is empty or malformed"}))
		}
	}
	// Only the first bytes are read here: parsing happens in the worker's extraction
	// child, never in the API process.
	ext := strings.TrimPrefix(path.Ext(key), ".")
	head := make([]byte, 1024)
	n, err := io.ReadFull(rc, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read upload %s: %w", key, err)
	}
	head = head[:n]
	switch ext {
	case "pdf":
		if !looksLikePDF(head) {
			return "", s.uploadRejected(ctx, key, apperr.E(apperr.UnsupportedMediaType, "The uploaded file is not a PDF"))
		}
		return TypePDF, nil
	case "docx":
		if !bytes.HasPrefix(head, []byte(zipMagic)) {
			return "", s.uploadRejected(ctx, key, apperr.E(apperr.UnsupportedMediaType, "The uploaded file is not a valid DOCX document"))
		}
	default:
		if bytes.IndexByte(head, 0) >= 0 {
			return "", s.uploadRejected(ctx, key, apperr.E(apperr.UnsupportedMediaType, "The uploaded file is not a text file"))
		}
	}
	return TypeFile, nil
}

// ListDocs returns the agent's documents after req.After, newest first: up to
// req.Fetch() rows, for page.Cut.
func (s *Service) ListDocs(ctx context.Context, workspaceID, agentID string, req page.Request) ([]docRow, error) {
	if err := s.agents.Exists(ctx, workspaceID, agentID); err != nil {
		return nil, err
	}
	return s.st.listDocs(ctx, s.db, workspaceID, agentID, req)
}

// DocCounts returns how many documents each of the agents has (absent: none).
func (s *Service) DocCounts(ctx context.Context, workspaceID string, agentIDs []string) (map[string]int, error) {
	return s.st.countDocs(ctx, s.db, workspaceID, agentIDs)
}

// StatusCounts returns the agent's documents per status and the sum of their chunk counts.
func (s *Service) StatusCounts(ctx context.Context, workspaceID, agentID string) (map[string]int, int, error) {
	return s.st.countByStatus(ctx, s.db, workspaceID, agentID)
}

// GetDoc returns one document of the agent, or NOT_FOUND.
func (s *Service) GetDoc(ctx context.Context, workspaceID, agentID, docID string) (docRow, error) {
	if err := s.agents.Exists(ctx, workspaceID, agentID); err != nil {
		return docRow{}, err
	}
	return s.st.getDoc(ctx, s.db, workspaceID, agentID, docID)
}

// UpdateDoc changes the title and/or whether the document is searched. NOT_FOUND for an
// unknown document.
func (s *Service) UpdateDoc(ctx context.Context, workspaceID, agentID, docID string, title *string, active *bool) (docRow, error) {
	if err := s.agents.Exists(ctx, workspaceID, agentID); err != nil {
		return docRow{}, err
	}
	return s.st.updateDoc(ctx, s.db, workspaceID, agentID, docID, title, active)
}

// DeleteDoc removes the document and its chunks (by cascade), then deletes its uploaded
// file, best effort: a storage failure is logged, the document is gone either way.
func (s *Service) DeleteDoc(ctx context.Context, workspaceID, agentID, docID string) error {
	if err := s.agents.Exists(ctx, workspaceID, agentID); err != nil {
		return err
	}
	key, err := s.st.deleteDoc(ctx, s.db, workspaceID, agentID, docID)
	if err != nil {
		return err
	}
	if key != "" {
		if err := s.files.Delete(context.WithoutCancel(ctx), key); err != nil {
			s.log.Warn("deleting a document's file failed", "doc", docID, "key", key, "err", err)
		}
	}
	return nil
}

// Reindex sets the document PENDING and enqueues its ingestion in one transaction.
// Repeated requests are cheap: a job whose extracted content hashes to the stored
// content_sha256 marks the document READY without embedding.
func (s *Service) Reindex(ctx context.Context, workspaceID, agentID, docID string) (docRow, error) {
	if err := s.agents.Exists(ctx, workspaceID, agentID); err != nil {
		return docRow{}, err
	}
	var d docRow
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		if d, err = s.st.markPending(ctx, tx, workspaceID, agentID, docID); err != nil {
			return err
		}
		_, err = s.queue.InsertTx(ctx, tx.Tx, IngestDocArgs{DocID: d.ID}, nil)
		return err
	})
	return d, err
}

// SearchDocs is the search route: the agent's top chunks for query as the chat pipeline
// would retrieve them (same threshold). NOT_FOUND for an unknown agent.
func (s *Service) SearchDocs(ctx context.Context, workspaceID, agentID, query string, limit int) ([]Hit, error) {
	if err := s.agents.Exists(ctx, workspaceID, agentID); err != nil {
		return nil, err
	}
	return s.Search(ctx, workspaceID, agentID, query, limit, s.minSimilarity)
}

// Presigned is an upload URL for one file.
type Presigned struct {
	UploadURL  string
	StorageKey string
	ExpiresAt  time.Time
}

// Presign checks an upload against the rules (PDF, TXT, MD, DOCX, HTML, CSV; 25 MB) and
// returns a URL valid for 900 s under a fresh key of the workspace. Errors: 400 for a
// malformed request, 415 for a type that is not allowed, 413 above 25 MB.
func (s *Service) Presign(ctx context.Context, workspaceID, filename, contentType string, size int64) (Presigned, error) {
	ext, err := storage.ValidateUpload(filename, contentType, size)
	if err != nil {
		return Presigned{}, storageError(err)
	}
	key := storage.NewUploadKey(workspaceID, ext)
	u, exp, err := s.files.PresignPut(ctx, key, contentType, size, storage.PresignTTL)
	if err != nil {
		return Presigned{}, fmt.Errorf("presign %s: %w", key, err)
	}
	return Presigned{UploadURL: u, StorageKey: key, ExpiresAt: exp}, nil
}

// storageError maps the storage package's rule errors to contract errors.
func storageError(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, ": "); i >= 0 {
		msg = msg[i+2:] // drop the "storage: …" prefix of the sentinel
	}
	if msg != "" {
		msg = strings.ToUpper(msg[:1]) + msg[1:]
	}
	switch {
	case errors.Is(err, storage.ErrTooLarge):
		return apperr.E(apperr.PayloadTooLarge, msg)
	case errors.Is(err, storage.ErrUnsupportedType):
		return apperr.E(apperr.UnsupportedMediaType, msg)
	case errors.Is(err, storage.ErrInvalid):
		return apperr.E(apperr.Validation, msg)
	}
	return err
}

// LocalPut receives an upload for the local store: it verifies the presigned URL's
// signature and expiry against the request's Content-Type and Content-Length, then stores
// exactly size bytes. Errors: 401 INVALID_SIGNATURE for a URL that was not issued for this
// key, type and size; 403 FORBIDDEN once it expired; 413 above 25 MB or for a body longer
// than declared; 400 for a malformed key or a short body.
func (s *Service) LocalPut(ctx context.Context, key, expires, sig, contentType string, size int64, body io.Reader) error {
	if s.local == nil {
		return apperr.NotFoundf("Route")
	}
	if size > storage.MaxUploadBytes {
		return apperr.E(apperr.PayloadTooLarge, fmt.Sprintf("Uploads are limited to %d MB", storage.MaxUploadBytes>>20))
	}
	if size < 0 {
		return apperr.E(apperr.Validation, "Content-Length is required")
	}
	err := s.local.VerifyPut(key, expires, sig, contentType, size, s.now())
	switch {
	case errors.Is(err, storage.ErrSignature):
		return apperr.E(apperr.InvalidSignature, "The upload URL's signature does not match this request")
	case errors.Is(err, storage.ErrExpired):
		return apperr.E(apperr.Forbidden, "The upload URL has expired")
	case err != nil:
		return storageError(err)
	}
	if err := s.local.Put(ctx, key, body, size, contentType); err != nil {
		if errors.Is(err, storage.ErrTooLarge) || errors.Is(err, storage.ErrInvalid) {
			return storageError(err)
		}
		return fmt.Errorf("store upload %s: %w", key, err)
	}
	return nil
}
