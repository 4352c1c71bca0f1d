package app

import (
	"context"
	"errors"
	"fmt"
	"io"

	"tally/app/bench"
)

// benchCmd runs the benchmarks (see app/bench).
func benchCmd(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: tally bench ingest [--events N] [--concurrency C] [--warmup N] [--url URL --client-id ID [--client-secret S] [--database-url URL] [--pid PID]] [--cpuprofile FILE]")
	}
	switch args[0] {
	case "ingest":
		return bench.IngestCmd(ctx, args[1:], env, stdout, stderr)
	}
	return fmt.Errorf("unknown benchmark %q (ingest)", args[0])
}
