package load

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// BenchmarkRun measures the generator's own cost per query: an open-loop
// run at a rate above what one core can send, against a target that
// answers at once. ns/op is the CPU and wall time per query of the
// schedule, the sender pool and the metrics together.
func BenchmarkRun(b *testing.B) {
	for _, tt := range []struct {
		name string
		p    Plan
	}{
		{"open", Plan{Rate: 1e7, Arrival: Constant}},
		{"closed", Plan{Concurrency: 4}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			p := tt.p
			p.Duration = time.Nanosecond
			p.MinQueries = int64(b.N)
			b.ReportAllocs()
			b.ResetTimer()
			r, err := Run(context.Background(), p, instant, Options{MaxConnections: 64})
			if err != nil {
				b.Fatal(err)
			}
			if r.Sent != int64(b.N) {
				b.Fatalf("sent %d of %d", r.Sent, b.N)
			}
		})
	}
}

// BenchmarkHTTPTarget measures one Hit against an in-process fasthttp
// server on loopback (both in this process: read the figure as the sum of
// client and server).
func BenchmarkHTTPTarget(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) { c.WriteString("0123456789abcdef") }}
	go srv.Serve(ln)
	defer srv.Shutdown()
	t, err := NewHTTPTarget(HTTPConfig{URL: fmt.Sprintf("http://%s/", ln.Addr())})
	if err != nil {
		b.Fatal(err)
	}
	defer t.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := t.Hit(ctx, Query{Seq: uint64(i)}); err != nil {
			b.Fatal(err)
		}
	}
}
