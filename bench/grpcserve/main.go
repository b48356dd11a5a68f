// Command grpcserve serves the reference models over REST and, through
// grpcbind's Gateway in the same process, over the gRPC binding, with the
// settings of `aiconform serve` (batching at its defaults) and
// -max-concurrent inferences at once. scripts/grpcbench.sh measures it
// with GATEWAY=1, for a tree without `aiconform serve --grpc-addr`; it is a
// tool for a person, not a test.
//
//	grpcserve [-max-concurrent 256]
//
// It prints "listening on grpc://ADDR" and "listening on http://ADDR"
// (both on 127.0.0.1, ports the kernel picked) and serves until it is
// interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"

	"github.com/aiconform/aiconform/oip/grpcbind"
	pb "github.com/aiconform/aiconform/oip/inferencepb"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/reference/serve"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "grpcserve:", err)
		os.Exit(1)
	}
}

func run() error {
	maxConcurrent := flag.Int("max-concurrent", 256, "most inferences running at once")
	flag.Parse()
	models, err := reference.Builtin()
	if err != nil {
		return err
	}
	srv, err := serve.New(models, serve.WithMaxConcurrent(*maxConcurrent),
		serve.WithBatching(serve.BatchConfig{MaxBatch: serve.DefaultMaxBatch, MaxDelay: serve.DefaultMaxDelay}))
	if err != nil {
		return err
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	gs := grpc.NewServer()
	pb.RegisterGRPCInferenceServiceServer(gs, grpcbind.NewGateway(srv.Handler()))
	hs := &http.Server{Handler: srv.Handler()}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errs := make(chan error, 2)
	go func() { errs <- gs.Serve(gl) }()
	go func() { errs <- hs.Serve(hl) }()
	fmt.Printf("listening on grpc://%s\n", gl.Addr())
	fmt.Printf("listening on http://%s\n", hl.Addr())
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	gs.Stop()
	if cerr := hs.Close(); err == nil && !errors.Is(cerr, http.ErrServerClosed) {
		err = cerr
	}
	return err
}
