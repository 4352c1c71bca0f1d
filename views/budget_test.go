package views

import (
	"bytes"
	"compress/gzip"
	"testing"

	"tally/static"
)

// TestShellAssetBudget keeps what every dashboard page loads small: the
// CSS and JavaScript of the shell, gzipped as the server sends them, stay
// under 80 KB (the budget). `go run . bench pages` reports the
// same figure as served over HTTP.
func TestShellAssetBudget(t *testing.T) {
	const budget = 80 << 10
	var total int
	for _, name := range append(append([]string{}, ShellStyles...), ShellScripts...) {
		data, err := static.FS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, 5) // the level the server compresses with
		_, _ = zw.Write(data)
		_ = zw.Close()
		t.Logf("%-28s %6d bytes, %6d gzipped", name, len(data), buf.Len())
		total += buf.Len()
	}
	t.Logf("shell total: %.1f KB gzipped (budget %d KB)", float64(total)/1024, budget>>10)
	if total > budget {
		t.Fatalf("the shell's CSS and JS are %d bytes gzipped, over the %d budget", total, budget)
	}
}
