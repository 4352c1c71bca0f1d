// Package static embeds the CSS, the vendored front-end libraries (see
// vendor.sh) and, later, the built tracker.
package static

import "embed"

//go:embed vendor
var FS embed.FS
