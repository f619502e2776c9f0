package page_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/axonhq/axon/platform/page"
)

func TestParse(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 30, 7, 0, 0, 123456789, time.UTC)
	id := "0192f0a4-7b1e-7c3d-8e9f-0a1b2c3d4e5f"
	good := page.Encode(page.Key{Time: at, ID: id})
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

	cases := []struct {
		name, limit, cursor string
		wantLimit           int
		wantErr             error
		wantField           string
	}{
		{name: "defaults", wantLimit: 20},
		{name: "limit 1", limit: "1", wantLimit: 1},
		{name: "limit 100", limit: "100", wantLimit: 100},
		{name: "limit 0", limit: "0", wantErr: page.ErrLimit, wantField: "limit"},
		{name: "limit 101", limit: "101", wantErr: page.ErrLimit, wantField: "limit"},
		{name: "limit text", limit: "ten", wantErr: page.ErrLimit, wantField: "limit"},
		{name: "good cursor", cursor: good, wantLimit: 20},
		{name: "padded cursor", cursor: good + "==", wantLimit: 20},
		{name: "not base64", cursor: "!!!", wantErr: page.ErrCursor, wantField: "cursor"},
		{name: "no separator", cursor: b64("2026-11-30T07:00:00Z"), wantErr: page.ErrCursor, wantField: "cursor"},
		{name: "bad time", cursor: b64("yesterday|" + id), wantErr: page.ErrCursor, wantField: "cursor"},
		{name: "bad id", cursor: b64("2026-11-30T07:00:00Z|1; DROP TABLE x"), wantErr: page.ErrCursor, wantField: "cursor"},
		{name: "huge", cursor: strings.Repeat("A", 4096), wantErr: page.ErrCursor, wantField: "cursor"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := page.Parse(tc.limit, tc.cursor)
			if tc.wantErr != nil {
				var fe *page.FieldError
				if !errors.Is(err, tc.wantErr) || !errors.As(err, &fe) || fe.Field != tc.wantField {
					t.Fatalf("err = %v, want %v on %s", err, tc.wantErr, tc.wantField)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Limit != tc.wantLimit || r.Fetch() != tc.wantLimit+1 {
				t.Fatalf("limit %d fetch %d, want %d", r.Limit, r.Fetch(), tc.wantLimit)
			}
			if tc.cursor != "" && (!r.After.Time.Equal(at) || r.After.ID != id) {
				t.Fatalf("after = %+v", r.After)
			}
		})
	}
}

func TestKeyArgs(t *testing.T) {
	t.Parallel()
	if a, b := (page.Key{}).Args(); a != nil || b != nil {
		t.Fatalf("zero key args = %v, %v; want nil, nil", a, b)
	}
	at := time.Unix(1, 0)
	if a, b := (page.Key{Time: at, ID: "x"}).Args(); a != at || b != "x" {
		t.Fatalf("args = %v, %v", a, b)
	}
}

func TestCut(t *testing.T) {
	t.Parallel()
	type row struct {
		at time.Time
		id string
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := make([]row, 4)
	for i := range rows {
		rows[i] = row{base.Add(-time.Duration(i) * time.Minute), "0192f0a4-7b1e-7c3d-8e9f-0a1b2c3d4e5" + string(rune('0'+i))}
	}
	key := func(r row) page.Key { return page.Key{Time: r.at, ID: r.id} }
	conv := func(r row) string { return r.id }

	// Three rows asked for, four fetched: a next page exists and starts after the third.
	l := page.Cut(page.Request{Limit: 3}, rows, key, conv)
	if len(l.Items) != 3 || l.NextCursor == nil {
		t.Fatalf("items %d next %v", len(l.Items), l.NextCursor)
	}
	r, err := page.Parse("", *l.NextCursor)
	if err != nil || r.After.ID != rows[2].id || !r.After.Time.Equal(rows[2].at) {
		t.Fatalf("next cursor decodes to %+v, %v", r.After, err)
	}

	// Exactly Limit rows: the last page.
	if l := page.Cut(page.Request{Limit: 4}, rows, key, conv); len(l.Items) != 4 || l.NextCursor != nil {
		t.Fatalf("last page: items %d next %v", len(l.Items), l.NextCursor)
	}
	// No rows: items is [] (never null), no next.
	if l := page.Cut(page.Request{Limit: 4}, nil, key, conv); l.Items == nil || len(l.Items) != 0 || l.NextCursor != nil {
		t.Fatalf("empty page: %+v", l)
	}
	if l := page.Of[string](nil, ""); l.Items == nil || l.NextCursor != nil {
		t.Fatalf("Of(nil) = %+v", l)
	}
	if l := page.Of([]string{"a"}, "in_123"); *l.NextCursor != "in_123" {
		t.Fatalf("Of next = %v", l.NextCursor)
	}
}
