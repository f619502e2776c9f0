package backup

import (
	"context"
	"testing"
)

func TestPartSize(t *testing.T) {
	const mib = 1 << 20
	for _, tt := range []struct {
		expect, want int64
	}{
		{0, UnknownSizePartSize},
		{-1, UnknownSizePartSize},
		{1, MinPartSize},
		{1 << 30, MinPartSize},        // bench/backup's 1.57 GiB database
		{26_214_400_000, MinPartSize}, // the largest database with 5 MiB parts
		{26_214_400_001, 6 * mib},     // one byte more: 6 MiB
		{100 << 30, 21 * mib},         // 2 × 100 GiB / 10,000 = 20.5 MiB
		{1 << 50, MaxPartSize},        // beyond what S3 can hold: its largest part
	} {
		got := PartSize(tt.expect)
		if got != tt.want {
			t.Errorf("PartSize(%d) = %d, want %d", tt.expect, got, tt.want)
		}
		if got%mib != 0 || got < MinPartSize || got > MaxPartSize {
			t.Errorf("PartSize(%d) = %d: not a whole MiB between S3's limits", tt.expect, got)
		}
		if tt.expect > 0 && got < MaxPartSize && got*MaxParts < 2*tt.expect {
			t.Errorf("PartSize(%d) = %d: %d parts do not hold twice the estimate", tt.expect, got, MaxParts)
		}
	}
}

func TestDatabaseSize(t *testing.T) {
	ctx := context.Background()
	if n := databaseSize(ctx, sourceURL(t)); n < 1<<20 {
		t.Errorf("databaseSize of the test database = %d, want at least 1 MiB", n)
	}
	// Unreachable or malformed: 0, so the upload falls back to UnknownSizePartSize.
	for _, url := range []string{"postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", "::not a url::"} {
		if n := databaseSize(ctx, url); n != 0 {
			t.Errorf("databaseSize(%q) = %d, want 0", url, n)
		}
	}
}
