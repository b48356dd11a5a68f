// Command aiconform certifies AI model endpoints that speak the Open
// Inference Protocol v2 against the aiconform standard: it validates
// documents against the standard's schemas, serves the reference models,
// runs the conformance suite against a target and writes reports.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
