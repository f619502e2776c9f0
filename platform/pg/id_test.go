package pg_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/axonhq/axon/platform/pg"
)

func TestNewIDIsTimeOrderedUUIDv7(t *testing.T) {
	t.Parallel()
	a, b := pg.NewID(), pg.NewID()
	u, err := uuid.Parse(a)
	if err != nil || u.Version() != 7 {
		t.Fatalf("NewID() = %q (version %v, err %v), want a UUIDv7", a, u.Version(), err)
	}
	if a == b {
		t.Fatalf("two calls returned the same id %q", a)
	}
	if a[:8] > b[:8] {
		t.Fatalf("ids not time-ordered: %q then %q", a, b)
	}
}
