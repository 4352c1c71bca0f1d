package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"

	"tally/app/seed"
)

// seedCmd writes synthetic traffic into an existing project (app/seed).
func seedCmd(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	project := fs.String("project", "", "project id")
	events := fs.Int64("events", 100_000, "rows to write into events (session_start and session_end included)")
	days := fs.Int("days", 30, "local days the traffic spans, ending now")
	seedVal := fs.Uint64("seed", 1, "random seed (the same seed gives the same traffic; ids are always new)")
	workers := fs.Int("workers", 2, "connections writing in parallel")
	own, rest := splitFlags(fs, args)
	if err := fs.Parse(own); err != nil {
		return err
	}
	if *project == "" {
		return errors.New("--project is required (the id `tally project create` printed, or the one in the dashboard's URL)")
	}
	_, d, log, err := commandDB(ctx, "seed", rest, env, stderr)
	if err != nil {
		return err
	}
	defer d.Close()
	res, err := seed.Run(ctx, d.Pool, seed.Options{
		ProjectID: *project, Events: *events, Days: *days, Seed: *seedVal, Workers: *workers,
		Refresh: true, Analyze: true, Log: log,
	})
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(res)
}

// startDemo fills the demo project in the background (serve --demo).
func startDemo(ctx context.Context, s *Server, log *slog.Logger) {
	go func() {
		if err := seed.Demo(ctx, s.DB.Pool, log); err != nil && ctx.Err() == nil {
			log.Error("demo data", "err", err)
		}
	}()
}
