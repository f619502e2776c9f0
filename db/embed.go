// Package db holds the embedded SQL migrations of the whole application.
package db

import "embed"

// Migrations is the ordered goose sequence under migrations/ (NNNNN_<module>_<what>.sql).
//
//go:embed migrations/*.sql
var Migrations embed.FS
