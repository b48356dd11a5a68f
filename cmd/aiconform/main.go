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
	os.Exit(runMain(os.Args[1:], Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
}

// runMain runs Main as the process does: the first SIGINT or SIGTERM
// ends the command cleanly (a run writes its report, a server drains),
// and a second one gets the default behaviour and ends the process at
// once.
func runMain(args []string, s Streams) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	return Main(ctx, args, s)
}
