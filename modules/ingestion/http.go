package ingestion

import (
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/page"
	"github.com/axonhq/axon/platform/storage"
	"github.com/axonhq/axon/platform/web"
)

// Request limits.
const (
	maxTitleRunes  = 200
	maxContentSize = 1 << 20 // bytes of TEXT/QA content
	maxURLLen      = 2048
	maxQueryRunes  = 2000
	maxSearchLimit = 20
	defaultSearchK = 5
)

type handlers struct {
	svc *Service
}

// Request and response types.

type createRequest struct {
	Type       string  `json:"type"`
	Title      string  `json:"title"`
	Content    *string `json:"content"`
	SourceURL  *string `json:"sourceUrl"`
	StorageKey *string `json:"storageKey"`
}

type updateRequest struct {
	Title    *string `json:"title"`
	IsActive *bool   `json:"isActive"`
}

type searchRequest struct {
	Query string `json:"query"`
	Limit *int   `json:"limit"`
}

type presignRequest struct {
	Filename    string `json:"filename"`
	ContentType string `json:"contentType"`
	Size        int64  `json:"size"`
}

type docDTO struct {
	ID         string    `json:"id"`
	Title      string    `json:"title"`
	Type       string    `json:"type"`
	Status     string    `json:"status"`
	ChunkCount int       `json:"chunkCount"`
	IsActive   bool      `json:"isActive"`
	ErrorMsg   *string   `json:"errorMsg"`
	SourceURL  *string   `json:"sourceUrl,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

type docEnvelope struct {
	Doc docDTO `json:"doc"`
}

type hitDTO struct {
	DocID      string         `json:"docId"`
	Title      string         `json:"title"`
	ChunkIdx   int            `json:"chunkIdx"`
	Content    string         `json:"content"`
	Similarity float64        `json:"similarity"`
	Metadata   map[string]any `json:"metadata,omitempty"`
}

type searchResponse struct {
	Items []hitDTO `json:"items"`
}

type presignResponse struct {
	UploadURL  string    `json:"uploadUrl"`
	StorageKey string    `json:"storageKey"`
	ExpiresAt  time.Time `json:"expiresAt"`
}

func toDocDTO(d docRow) docDTO {
	out := docDTO{
		ID: d.ID, Title: d.Title, Type: d.Type, Status: d.Status, ChunkCount: d.ChunkCount,
		IsActive: d.IsActive, CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(),
	}
	if d.ErrorMsg.Valid {
		out.ErrorMsg = &d.ErrorMsg.String
	}
	if d.SourceURL.Valid {
		out.SourceURL = &d.SourceURL.String
	}
	return out
}

// Handlers.

func (h *handlers) create(c echo.Context) error {
	p := authn.MustGet(c)
	agentID, err := web.PathUUID(c, "agentId", "Agent")
	if err != nil {
		return err
	}
	var req createRequest
	if err := web.Bind(c, &req); err != nil {
		return err
	}
	in, err := validateCreate(req)
	if err != nil {
		return err
	}
	d, err := h.svc.CreateDoc(c.Request().Context(), p.WorkspaceID, agentID, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, docEnvelope{Doc: toDocDTO(d)})
}

// validateCreate checks the request's shape per type: the title, then exactly the source
// field of the type.
func validateCreate(req createRequest) (CreateInput, error) {
	probs := web.Problems{}
	in := CreateInput{Type: strings.ToUpper(strings.TrimSpace(req.Type)), Title: strings.TrimSpace(req.Title)}
	n := utf8.RuneCountInString(in.Title)
	probs.Check(n >= 1 && n <= maxTitleRunes, "title", "must be 1 to 200 characters")

	field := map[string]string{
		TypeText: "content", TypeQA: "content",
		TypeURL: "sourceUrl", TypeSitemap: "sourceUrl", TypeYouTube: "sourceUrl",
		TypePDF: "storageKey", TypeFile: "storageKey",
	}[in.Type]
	if field == "" {
		probs.Check(false, "type", "must be one of TEXT, QA, URL, SITEMAP, YOUTUBE, PDF, FILE")
		return in, probs.Err()
	}
	given := map[string]*string{"content": req.Content, "sourceUrl": req.SourceURL, "storageKey": req.StorageKey}
	for name, v := range given {
		if name != field && v != nil {
			probs.Check(false, name, "is not used by documents of type "+in.Type)
		}
	}
	v := given[field]
	if v == nil || strings.TrimSpace(*v) == "" {
		probs.Check(false, field, "is required for documents of type "+in.Type)
		return in, probs.Err()
	}
	switch field {
	case "content":
		in.Content = *v
		probs.Check(len(in.Content) <= maxContentSize, "content", "must be at most 1 MB")
		if in.Type == TypeQA {
			probs.Check(len(parseQA(in.Content)) > 0, "content", `must hold question and answer pairs, each as "Q: …" and "A: …" lines`)
		}
	case "sourceUrl":
		in.SourceURL = strings.TrimSpace(*v)
		probs.Check(validSourceURL(in.SourceURL), "sourceUrl", "must be an http(s) URL of at most 2048 characters, without credentials")
		if in.Type == TypeYouTube {
			_, ok := youTubeVideoID(in.SourceURL)
			probs.Check(ok, "sourceUrl", "must be a YouTube video URL (youtube.com/watch?v=…, youtu.be/…)")
		}
	case "storageKey":
		in.StorageKey = strings.TrimSpace(*v)
		probs.Check(storage.CheckKey(in.StorageKey) == nil, "storageKey", "must be a storageKey returned by POST /v1/storage/presign")
	}
	return in, probs.Err()
}

// validSourceURL accepts absolute http(s) URLs with a host and without user:password.
func validSourceURL(s string) bool {
	if len(s) > maxURLLen {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

func (h *handlers) list(c echo.Context) error {
	p := authn.MustGet(c)
	agentID, err := web.PathUUID(c, "agentId", "Agent")
	if err != nil {
		return err
	}
	req, err := web.ParsePage(c)
	if err != nil {
		return err
	}
	rows, err := h.svc.ListDocs(c.Request().Context(), p.WorkspaceID, agentID, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page.Cut(req, rows, docRow.key, toDocDTO))
}

// docIDs reads the agent and document ids of the path (non-UUIDs are 404).
func docIDs(c echo.Context) (agentID, docID string, err error) {
	if agentID, err = web.PathUUID(c, "agentId", "Agent"); err != nil {
		return "", "", err
	}
	docID, err = web.PathUUID(c, "id", "Document")
	return agentID, docID, err
}

func (h *handlers) get(c echo.Context) error {
	p := authn.MustGet(c)
	agentID, docID, err := docIDs(c)
	if err != nil {
		return err
	}
	d, err := h.svc.GetDoc(c.Request().Context(), p.WorkspaceID, agentID, docID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toDocDTO(d))
}

func (h *handlers) update(c echo.Context) error {
	p := authn.MustGet(c)
	agentID, docID, err := docIDs(c)
	if err != nil {
		return err
	}
	var req updateRequest
	if err := web.Bind(c, &req); err != nil {
		return err
	}
	probs := web.Problems{}
	probs.Check(req.Title != nil || req.IsActive != nil, "body", "must set title or isActive")
	if req.Title != nil {
		t := strings.TrimSpace(*req.Title)
		n := utf8.RuneCountInString(t)
		probs.Check(n >= 1 && n <= maxTitleRunes, "title", "must be 1 to 200 characters")
		req.Title = &t
	}
	if err := probs.Err(); err != nil {
		return err
	}
	d, err := h.svc.UpdateDoc(c.Request().Context(), p.WorkspaceID, agentID, docID, req.Title, req.IsActive)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toDocDTO(d))
}

func (h *handlers) delete(c echo.Context) error {
	p := authn.MustGet(c)
	agentID, docID, err := docIDs(c)
	if err != nil {
		return err
	}
	if err := h.svc.DeleteDoc(c.Request().Context(), p.WorkspaceID, agentID, docID); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *handlers) reindex(c echo.Context) error {
	p := authn.MustGet(c)
	agentID, docID, err := docIDs(c)
	if err != nil {
		return err
	}
	d, err := h.svc.Reindex(c.Request().Context(), p.WorkspaceID, agentID, docID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, docEnvelope{Doc: toDocDTO(d)})
}

func (h *handlers) search(c echo.Context) error {
	p := authn.MustGet(c)
	agentID, err := web.PathUUID(c, "agentId", "Agent")
	if err != nil {
		return err
	}
	var req searchRequest
	if err := web.Bind(c, &req); err != nil {
		return err
	}
	probs := web.Problems{}
	q := strings.TrimSpace(req.Query)
	n := utf8.RuneCountInString(q)
	probs.Check(n >= 1 && n <= maxQueryRunes, "query", "must be 1 to 2000 characters")
	k := defaultSearchK
	if req.Limit != nil {
		k = *req.Limit
		probs.Check(k >= 1 && k <= maxSearchLimit, "limit", "must be an integer from 1 to 20")
	}
	if err := probs.Err(); err != nil {
		return err
	}
	hits, err := h.svc.SearchDocs(c.Request().Context(), p.WorkspaceID, agentID, q, k)
	if err != nil {
		return err
	}
	items := make([]hitDTO, len(hits))
	for i, x := range hits {
		items[i] = hitDTO{DocID: x.DocID, Title: x.Title, ChunkIdx: x.ChunkIdx, Content: x.Content, Similarity: x.Similarity, Metadata: x.Metadata}
	}
	return c.JSON(http.StatusOK, searchResponse{Items: items})
}

func (h *handlers) presign(c echo.Context) error {
	p := authn.MustGet(c)
	var req presignRequest
	if err := web.Bind(c, &req); err != nil {
		return err
	}
	probs := web.Problems{}
	probs.Check(strings.TrimSpace(req.Filename) != "", "filename", "is required")
	probs.Check(strings.TrimSpace(req.ContentType) != "", "contentType", "is required")
	probs.Check(req.Size > 0, "size", "must be a positive number of bytes")
	if err := probs.Err(); err != nil {
		return err
	}
	out, err := h.svc.Presign(c.Request().Context(), p.WorkspaceID, req.Filename, req.ContentType, req.Size)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, presignResponse{UploadURL: out.UploadURL, StorageKey: out.StorageKey, ExpiresAt: out.ExpiresAt.UTC()})
}

// localPut receives PUT /v1/storage/local/<key>?expires=…&sig=… (no login: the signature
// is the authorisation).
func (h *handlers) localPut(c echo.Context) error {
	r := c.Request()
	body := http.MaxBytesReader(c.Response(), r.Body, storage.MaxUploadBytes+1)
	err := h.svc.LocalPut(r.Context(), c.Param("*"), c.QueryParam("expires"), c.QueryParam("sig"),
		r.Header.Get(echo.HeaderContentType), r.ContentLength, body)
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusOK)
}
