// Package migrations holds the numbered schema migrations, applied by tern.
// Files are text/template: {{if .timescale}} selects the TimescaleDB variant.
package migrations

import "embed"

//go:embed *.sql
var FS embed.FS
