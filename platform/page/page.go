// Package page is the one pager of every list route: `?limit=` (default 20, max 100) and an
// opaque `?cursor=`, answered as `{"items": [...], "nextCursor": "…" | null}`.
//
// Lists are keyset-paginated on a (time, id) sort key, newest first unless a route says
// otherwise. A store asks for Limit+1 rows after the cursor's key and hands them to Cut,
// which keeps Limit rows and makes the next cursor from the last one kept:
//
//	// store.go
//	const qList = `SELECT … FROM things
//	WHERE workspace_id = $1
//	  AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
//	ORDER BY created_at DESC, id DESC
//	LIMIT $4`
//	at, id := req.After.Args()
//	err := sqlx.SelectContext(ctx, q, &rows, qList, workspaceID, at, id, req.Fetch())
//
//	// http.go
//	req, err := web.ParsePage(c)            // 400 VALIDATION_ERROR for a bad limit or cursor
//	rows, err := h.svc.List(ctx, wid, req)
//	return c.JSON(200, page.Cut(req, rows, func(r Row) page.Key { return page.Key{r.CreatedAt, r.ID} }, toDTO))
//
// A cursor is the base64url of "<RFC 3339 nano time>|<id>"; a client must treat it as
// opaque. A cursor this package did not issue fails Parse.
package page

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Limits of ?limit.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// maxCursorLen bounds what Parse decodes.
const maxCursorLen = 512

// Errors returned by Parse; the HTTP layer turns them into 400 VALIDATION_ERROR on the field.
var (
	ErrLimit  = errors.New("must be an integer from 1 to 100")
	ErrCursor = errors.New("is not a cursor this API issued")
)

// Key is a row's position in a (time, id) keyset order.
type Key struct {
	Time time.Time
	ID   string
}

// Args returns the key as two SQL arguments, both nil for the zero key (the first page), so
// that `($n::timestamptz IS NULL OR (t, id) < ($n, $m))` selects every row.
func (k Key) Args() (t, id any) {
	if k.ID == "" {
		return nil, nil
	}
	return k.Time, k.ID
}

// Request is a parsed page request.
type Request struct {
	Limit int
	// After is the key of the last item of the previous page; zero on the first page.
	After Key
}

// Fetch is how many rows a store should ask for: one more than Limit, so that Cut knows
// whether another page exists.
func (r Request) Fetch() int { return r.Limit + 1 }

// Parse reads the raw ?limit and ?cursor values. It returns ErrLimit or ErrCursor (wrapped
// in a *FieldError naming the parameter) for values this API would not have produced.
func Parse(limit, cursor string) (Request, error) {
	r := Request{Limit: DefaultLimit}
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 1 || n > MaxLimit {
			return r, &FieldError{Field: "limit", Err: ErrLimit}
		}
		r.Limit = n
	}
	if cursor != "" {
		k, ok := decode(cursor)
		if !ok {
			return r, &FieldError{Field: "cursor", Err: ErrCursor}
		}
		r.After = k
	}
	return r, nil
}

// FieldError names the query parameter that failed.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + " " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Encode returns the opaque cursor of k.
func Encode(k Key) string {
	return base64.RawURLEncoding.EncodeToString([]byte(k.Time.UTC().Format(time.RFC3339Nano) + "|" + k.ID))
}

func decode(s string) (Key, bool) {
	if len(s) > maxCursorLen {
		return Key{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return Key{}, false
	}
	ts, id, ok := strings.Cut(string(b), "|")
	if !ok || !isUUID(id) {
		return Key{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return Key{}, false
	}
	return Key{Time: t, ID: strings.ToLower(id)}, true
}

// List is the list response of every list route.
type List[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"nextCursor"`
}

// Cut keeps at most r.Limit of rows (fetched with r.Fetch()), converts them with conv and
// sets NextCursor from the last kept row when more rows exist. Items is never null.
func Cut[R, T any](r Request, rows []R, key func(R) Key, conv func(R) T) List[T] {
	more := len(rows) > r.Limit
	if more {
		rows = rows[:r.Limit]
	}
	items := make([]T, len(rows))
	for i, row := range rows {
		items[i] = conv(row)
	}
	var next *string
	if more && len(rows) > 0 {
		s := Encode(key(rows[len(rows)-1]))
		next = &s
	}
	return List[T]{Items: items, NextCursor: next}
}

// Of wraps items fetched by another pager (an upstream API's own cursor) in the list shape.
// Items is never null; an empty next is no next page.
func Of[T any](items []T, next string) List[T] {
	if items == nil {
		items = []T{}
	}
	l := List[T]{Items: items}
	if next != "" {
		l.NextCursor = &next
	}
	return l
}

// isUUID reports whether s is a canonical UUID string.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }
