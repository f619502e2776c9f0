package pg

import "github.com/google/uuid"

// NewID returns a new primary key: a UUIDv7 string (time-ordered, so inserts stay at the
// right edge of the index). Every table's id comes from here.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }
