package ingestion

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/axonhq/axon/platform/storage"
)

// Sitemap limits: a SITEMAP document ingests at most 50 pages, fetched 4 at a time.
const (
	sitemapMaxPages    = 50
	sitemapConcurrency = 4
	sitemapMaxFiles    = 20 // sitemap files read, the root and nested indexes included
	sitemapMaxDepth    = 3
)

// extractor turns a document into blocks of text.
type extractor struct {
	fetch       *fetcher
	transcripts *transcriptClient
	store       storage.Store
	log         *slog.Logger
	// sandbox parses fetched pages and uploaded files in a child process.
	sandbox *sandbox
}

// extraction is what a document yields: its text blocks and, when part of the source was
// skipped (pages of a sitemap), a note for the user that is kept in errorMsg of the READY
// document.
type extraction struct {
	blocks []block
	note   string
}

// extract reads a document's source into blocks (see extractBlocks) and sitemap notes.
func (x *extractor) extract(ctx context.Context, d docRow) (extraction, error) {
	if d.Type == TypeSitemap {
		return x.sitemap(ctx, d.SourceURL.String)
	}
	b, note, err := x.extractBlocks(ctx, d)
	return extraction{blocks: b, note: note}, err
}

// extractBlocks dispatches on the document type (every type but SITEMAP). Fetched pages
// and uploaded files are parsed in the sandbox; TEXT and QA content was typed in and is
// split here.
func (x *extractor) extractBlocks(ctx context.Context, d docRow) ([]block, string, error) {
	switch d.Type {
	case TypeText:
		return textBlocks(d.RawContent.String, true), "", nil
	case TypeQA:
		var out []block
		for _, p := range parseQA(cleanText(d.RawContent.String)) {
			out = append(out, block{Text: "Q: " + p.Q + "\nA: " + p.A})
		}
		return out, "", nil
	case TypeURL:
		p, err := x.fetch.get(ctx, d.SourceURL.String, "text/html,application/xhtml+xml,text/plain;q=0.9,application/pdf;q=0.8,*/*;q=0.5")
		if err != nil {
			return nil, "", err
		}
		return x.pageBlocks(ctx, p)
	case TypeYouTube:
		id, ok := youTubeVideoID(d.SourceURL.String)
		if !ok {
			return nil, "", permanentf("%q is not a YouTube video URL", d.SourceURL.String)
		}
		b, err := x.transcripts.fetch(ctx, id)
		return b, "", err
	case TypePDF, TypeFile:
		return x.file(ctx, d.StorageKey.String)
	}
	return nil, "", permanentf("Unknown document type %s", d.Type)
}

// pageBlocks extracts a fetched page in the sandbox by its content type: HTML, plain text
// or Markdown, or PDF. Every block gets the page's URL.
func (x *extractor) pageBlocks(ctx context.Context, p *fetchedPage) ([]block, string, error) {
	var kind string
	switch p.ContentType {
	case "text/html", "application/xhtml+xml":
		kind = "html"
	case "text/plain":
		kind = "txt"
	case "text/markdown", "text/x-markdown":
		kind = "md"
	case "application/pdf":
		kind = "pdf"
	default:
		return nil, "", permanentf("%s is %s, not a web page", p.URL, p.ContentType)
	}
	blocks, note, err := x.sandbox.extract(ctx, kind, bytes.NewReader(p.Body))
	for i := range blocks {
		blocks[i].URL = p.URL
	}
	return blocks, note, err
}

// file streams an uploaded file from storage into the sandbox, which extracts it by the
// key's extension. The file never sits whole in this process's memory.
func (x *extractor) file(ctx context.Context, key string) ([]block, string, error) {
	kind := strings.TrimPrefix(path.Ext(key), ".")
	switch kind {
	case "pdf", "docx", "txt", "md", "html", "csv":
	case "htm":
		kind = "html"
	default:
		return nil, "", permanentf("Files of type %s cannot be ingested", path.Ext(key))
	}
	rc, obj, err := x.store.Open(ctx, key)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, "", permanentf("The uploaded file is no longer in storage")
		}
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		return nil, "", transient(err, "Could not read the uploaded file from storage")
	}
	defer rc.Close()
	if obj.Size > storage.MaxUploadBytes {
		return nil, "", permanentf("The uploaded file is larger than %d MB", storage.MaxUploadBytes>>20)
	}
	src := &readErrTracker{r: io.LimitReader(rc, storage.MaxUploadBytes)}
	blocks, note, err := x.sandbox.extract(ctx, kind, src)
	if err != nil && src.err != nil {
		// The child failed because the file could not be read from storage.
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		return nil, "", transient(src.err, "Could not read the uploaded file from storage")
	}
	return blocks, note, err
}

// readErrTracker remembers the first read error other than io.EOF.
type readErrTracker struct {
	r   io.Reader
	err error
}

func (t *readErrTracker) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && t.err == nil {
		t.err = err
	}
	return n, err
}

// sitemapDoc is a <urlset> or a <sitemapindex> (namespaces are ignored).
type sitemapDoc struct {
	XMLName  xml.Name
	URLs     []sitemapLoc `xml:"url"`
	Sitemaps []sitemapLoc `xml:"sitemap"`
}

type sitemapLoc struct {
	Loc string `xml:"loc"`
}

// sitemap reads a sitemap (following nested sitemap indexes), then fetches and extracts
// at most sitemapMaxPages of its pages, sitemapConcurrency at a time. Pages that fail are
// skipped; the document fails only when the sitemap itself cannot be read or every page
// fails. Each page's blocks form their own chunk group.
func (x *extractor) sitemap(ctx context.Context, root string) (extraction, error) {
	pages, err := x.sitemapPages(ctx, root)
	if err != nil {
		return extraction{}, err
	}
	if len(pages) == 0 {
		return extraction{}, permanentf("The sitemap %s lists no pages", root)
	}
	results := make([][]block, len(pages))
	errs := make([]error, len(pages))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(sitemapConcurrency)
	for i, u := range pages {
		g.Go(func() error {
			p, err := x.fetch.get(gctx, u, "text/html,application/xhtml+xml,text/plain;q=0.9")
			if err == nil {
				results[i], _, err = x.pageBlocks(gctx, p)
			}
			errs[i] = err
			return nil // a page failure does not stop the others
		})
	}
	_ = g.Wait()
	if err := ctx.Err(); err != nil {
		return extraction{}, err
	}
	var out []block
	var failedURLs []string
	failed := 0
	var firstErr error
	allPermanent := true
	for i := range pages {
		if errs[i] != nil {
			failed++
			failedURLs = append(failedURLs, pages[i])
			if firstErr == nil {
				firstErr = errs[i]
			}
			if _, perm := classify(errs[i]); !perm {
				allPermanent = false
			}
			continue
		}
		for _, b := range results[i] {
			b.Group = i
			out = append(out, b)
		}
	}
	if failed == len(pages) {
		msg, _ := classify(firstErr)
		e := &ingestError{msg: fmt.Sprintf("None of the %d pages of the sitemap could be read (first error: %s)", len(pages), msg), permanent: allPermanent, cause: firstErr}
		return extraction{}, e
	}
	res := extraction{blocks: out}
	if failed > 0 {
		x.log.Warn("sitemap pages skipped", "sitemap", root, "failed", failed, "pages", len(pages), "firstError", firstErr)
		msg, _ := classify(firstErr)
		shown := failedURLs
		if len(shown) > 3 {
			shown = shown[:3]
		}
		res.note = fmt.Sprintf("%d of %d pages could not be read and were skipped (%s%s; first error: %s)",
			failed, len(pages), strings.Join(shown, ", "), map[bool]string{true: ", …"}[len(failedURLs) > 3], msg)
	}
	return res, nil
}

// sitemapPages collects up to sitemapMaxPages distinct http(s) page URLs, breadth first
// through nested sitemap indexes. The root must be readable; nested sitemaps that fail
// are skipped.
func (x *extractor) sitemapPages(ctx context.Context, root string) ([]string, error) {
	type item struct {
		url   string
		depth int
	}
	queue := []item{{root, 0}}
	seenMaps := map[string]bool{root: true}
	seenPages := map[string]bool{}
	var pages []string
	for files := 0; len(queue) > 0 && files < sitemapMaxFiles && len(pages) < sitemapMaxPages; files++ {
		it := queue[0]
		queue = queue[1:]
		doc, err := x.readSitemap(ctx, it.url)
		if err != nil {
			if it.depth == 0 {
				return nil, err
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			x.log.Warn("nested sitemap skipped", "sitemap", it.url, "err", err)
			continue
		}
		for _, s := range doc.Sitemaps {
			loc := strings.TrimSpace(s.Loc)
			if it.depth+1 <= sitemapMaxDepth && isHTTPURL(loc) && !seenMaps[loc] {
				seenMaps[loc] = true
				queue = append(queue, item{loc, it.depth + 1})
			}
		}
		for _, u := range doc.URLs {
			loc := strings.TrimSpace(u.Loc)
			if len(pages) >= sitemapMaxPages {
				break
			}
			if isHTTPURL(loc) && !seenPages[loc] {
				seenPages[loc] = true
				pages = append(pages, loc)
			}
		}
	}
	return pages, nil
}

// readSitemap fetches and parses one sitemap file (gzip-compressed ones too).
func (x *extractor) readSitemap(ctx context.Context, u string) (*sitemapDoc, error) {
	p, err := x.fetch.get(ctx, u, "application/xml,text/xml;q=0.9,*/*;q=0.5")
	if err != nil {
		return nil, err
	}
	body := p.Body
	if len(body) > 2 && body[0] == 0x1f && body[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, permanentf("The sitemap %s is not valid gzip", u)
		}
		body, err = io.ReadAll(io.LimitReader(zr, fetchMaxBytes+1))
		if err != nil || len(body) > fetchMaxBytes {
			return nil, permanentf("The sitemap %s could not be decompressed within %d MB", u, fetchMaxBytes>>20)
		}
	}
	var doc sitemapDoc
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = false
	if err := dec.Decode(&doc); err != nil || (doc.XMLName.Local != "urlset" && doc.XMLName.Local != "sitemapindex") {
		return nil, permanentf("%s is not a sitemap (expected <urlset> or <sitemapindex>)", u)
	}
	return &doc, nil
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
