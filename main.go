// Command tally is a self-hosted product and web analytics server.
// Everything lives in package app; main only wires signals.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"tally/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
