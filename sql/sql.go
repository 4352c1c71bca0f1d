// Package sqlfuncs embeds the versioned SQL functions (schema op), a tern code
// package re-applied at every start. A change of result or signature is a
// new _vN function; old versions stay until a migration drops them, so a
// rolling deploy never breaks a running binary.
package sqlfuncs

import "embed"

//go:embed *.sql
var FS embed.FS
