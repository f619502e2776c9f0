package page_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/axonhq/axon/platform/page"
)

var lowerUUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// ?limit= and ?cursor= come from any client: Parse never panics, accepts only a limit of 1 to
// 100 and cursors that decode to a (time, lower-case UUID) key, whose re-encoding parses to
// the same key.
func FuzzParse(f *testing.F) {
	good := page.Encode(page.Key{Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), ID: "0190b0a0-0000-7000-8000-0000000000aa"})
	for _, s := range [][2]string{
		{"", ""},
		{"20", good},
		{"0", ""},
		{"101", ""},
		{"-1", ""},
		{"1e2", ""},
		{"", "not-base64!"},
		{"", good + "=="},
		{"", "MjAyNi0wMS0wMlQwMzowNDowNVp8bm90LWEtdXVpZA"},
		{"100", "fA"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, limit, cursor string) {
		r, err := page.Parse(limit, cursor)
		if err != nil {
			return
		}
		if r.Limit < 1 || r.Limit > page.MaxLimit || r.Fetch() != r.Limit+1 {
			t.Fatalf("Parse(%q, %q) limit %d", limit, cursor, r.Limit)
		}
		if cursor == "" {
			if r.After != (page.Key{}) {
				t.Fatalf("no cursor, key %+v", r.After)
			}
			return
		}
		if !lowerUUID.MatchString(r.After.ID) {
			t.Fatalf("cursor %q gave id %q", cursor, r.After.ID)
		}
		again, err := page.Parse("", page.Encode(r.After))
		if err != nil || !again.After.Time.Equal(r.After.Time) || again.After.ID != r.After.ID {
			t.Fatalf("cursor %q: key %+v does not round-trip: %+v, %v", cursor, r.After, again.After, err)
		}
	})
}
