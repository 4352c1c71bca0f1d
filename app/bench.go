package app

import (
	"context"
	"errors"
	"io"
)

// benchCmd runs the benchmarks (see app/bench).
func benchCmd(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	return errors.New("not yet")
}
