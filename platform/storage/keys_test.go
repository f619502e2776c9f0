package storage

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

const wsID = "0190f7a2-3c4d-7e8f-9a0b-1c2d3e4f5a6b"

func TestNewUploadKey(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^uploads/` + regexp.QuoteMeta(wsID) + `/[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.pdf$`)
	seen := map[string]bool{}
	for range 100 {
		k := NewUploadKey(wsID, ".PDF")
		if !re.MatchString(k) {
			t.Fatalf("key %q does not match %s", k, re)
		}
		if seen[k] {
			t.Fatalf("duplicate key %q", k)
		}
		seen[k] = true
		if !KeyBelongsTo(k, wsID) {
			t.Fatalf("KeyBelongsTo(%q, own workspace) = false", k)
		}
		if err := CheckKey(k); err != nil {
			t.Fatalf("CheckKey(%q) = %v", k, err)
		}
	}
}

func TestKeyBelongsTo(t *testing.T) {
	t.Parallel()
	own := NewUploadKey(wsID, "pdf")
	other := NewUploadKey("0190f7a2-0000-7000-8000-000000000000", "pdf")
	name := own[strings.LastIndexByte(own, '/')+1:]
	tests := []struct {
		key, ws string
		want    bool
	}{
		{own, wsID, true},
		{"uploads/" + wsID + "/file.txt", wsID, true},
		{other, wsID, false},
		{own, "", false},
		{own, "0190f7a2", false},                       // prefix of the real id
		{"uploads/" + wsID + "x/" + name, wsID, false}, // id is a prefix of another
		{"uploads/" + wsID + "/", wsID, false},
		{"uploads/" + wsID, wsID, false},
		{"uploads/" + wsID + "/../other/" + name, wsID, false},
		{"uploads/" + wsID + "/sub/" + name, wsID, false},
		{"uploads/" + wsID + "/..", wsID, false},
		{"uploads/" + wsID + "/.hidden", wsID, false},
		{"uploads/" + wsID + "/a..b.pdf", wsID, false},
		{"uploads/" + wsID + `/..\..\x.pdf`, wsID, false},
		{"uploads/" + wsID + `\x.pdf`, wsID, false},
		{"/uploads/" + wsID + "/" + name, wsID, false},
		{"uploads//" + wsID + "/" + name, wsID, false},
		{"uploads/" + wsID + "//" + name, wsID, false},
		{"uploads/" + wsID + "/%2e%2e.pdf", wsID, false},
		{"uploads/" + wsID + "/a b.pdf", wsID, false},
		{"uploads/" + wsID + "/a\x00.pdf", wsID, false},
		{"uploads/" + wsID + "/é.pdf", wsID, false},
		{"backups/" + wsID + "/" + name, wsID, false},
		{"uploads/../" + wsID + "/" + name, wsID, false},
		{"uploads/" + wsID + "/" + name, "../x", false},
		{"uploads/a/b/" + name, "a/b", false},
	}
	for _, tt := range tests {
		if got := KeyBelongsTo(tt.key, tt.ws); got != tt.want {
			t.Errorf("KeyBelongsTo(%q, %q) = %v, want %v", tt.key, tt.ws, got, tt.want)
		}
	}
}

func TestCheckKey(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"a", "uploads/w/x.pdf", "backups/axon-20250101T000000Z.dump", "A_b-c.1/2"} {
		if err := CheckKey(k); err != nil {
			t.Errorf("CheckKey(%q) = %v, want ok", k, err)
		}
	}
	for _, k := range []string{"", "/a", "a/", "a//b", "../a", "a/../b", "a/./b", ".", "..", ".a", "a\\b", "a b", "a?b", "a%2fb", strings.Repeat("a", 1025)} {
		if err := CheckKey(k); !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckKey(%q) = %v, want ErrInvalid", k, err)
		}
	}
}
