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
		return errors.New("usage: tally bench ingest [--events N] [--concurrency C] [--warmup N] [--floor] [--url URL --client-id ID [--client-secret S] [--database-url URL] [--pid PID]] [--cpuprofile FILE] | identify [--ops N] [--concurrency C] [--profiles P] | merge [--history N] [--events E] [--concurrency C] | pages [--requests N] | overview [--events N] [--days D] [--data-dir DIR] [--requests N] [--url URL --database-url URL]")
	}
	switch args[0] {
	case "ingest":
		return bench.IngestCmd(ctx, args[1:], env, stdout, stderr)
	case "identify":
		return bench.IdentifyCmd(ctx, args[1:], env, stdout, stderr)
	case "merge":
		return bench.MergeCmd(ctx, args[1:], env, stdout, stderr)
	case "pages":
		return bench.PagesCmd(ctx, args[1:], env, stdout, stderr)
	case "overview":
		return bench.OverviewCmd(ctx, args[1:], env, stdout, stderr)
	case "floor-server": // started by `bench ingest --floor`
		return bench.FloorServeCmd(ctx, args[1:], env, stderr)
	}
	return fmt.Errorf("unknown benchmark %q (ingest, identify, merge, pages, overview)", args[0])
}
