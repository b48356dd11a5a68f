package load

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"google.golang.org/grpc"
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

// BenchmarkHTTPClient measures one query against an in-process fasthttp
// server on loopback, with HTTPTarget and with the same query on
// net/http's client, the choice HTTPTarget made. Client and server share
// the process: ns/op is their sum, allocs/op and B/op the client's and
// the server's (the server allocates nothing).
func BenchmarkHTTPClient(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) { c.WriteString("0123456789abcdef") }}
	go srv.Serve(ln)
	defer srv.Shutdown()
	url := fmt.Sprintf("http://%s/", ln.Addr())
	ft, err := NewHTTPTarget(HTTPConfig{URL: url})
	if err != nil {
		b.Fatal(err)
	}
	defer ft.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	nt := TargetFunc(func(ctx context.Context, q Query) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return &QueryError{Kind: KindStatus, Status: resp.StatusCode}
		}
		return nil
	})
	for _, c := range []struct {
		name string
		t    Target
	}{{"client=fasthttp", ft}, {"client=net-http", nt}} {
		b.Run(c.name, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := c.t.Hit(ctx, Query{Seq: uint64(i)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGRPCClient measures one query of GRPCTarget against an
// in-process gRPC server on loopback that answers 16 bytes, beside
// HTTPTarget against the fasthttp server of BenchmarkHTTPClient: one query
// at a time (parallel=1), and 64 outstanding at once (parallel=64) over
// 1 to 16 gRPC connections or 64 HTTP/1.1 ones. Client and server share
// the process: ns/op is their sum per query, allocs/op and B/op both
// sides' (fasthttp's server allocates nothing, gRPC's does).
func BenchmarkGRPCClient(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	answer := []byte("0123456789abcdef")
	gs := grpc.NewServer(grpc.ForceServerCodecV2(passCodec{}), grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		var req rawMessage
		if err := stream.RecvMsg(&req); err != nil {
			return err
		}
		return stream.SendMsg(&rawMessage{b: answer})
	}))
	go gs.Serve(ln) //nolint:errcheck // ends with Stop
	defer gs.Stop()
	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) { c.Write(answer) }}
	go hs.Serve(hln)    //nolint:errcheck // ends with Shutdown
	defer hs.Shutdown() //nolint:errcheck // nothing to report
	request := make([]byte, 64)
	grpcTarget := func(b *testing.B, conns int) Target {
		t, err := newGRPCTarget(GRPCConfig{URL: "grpc://" + ln.Addr().String(), Method: "/bench.S/M", Request: func(Query) []byte { return request }}, conns)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { t.Close() })
		return t
	}
	httpTarget := func(b *testing.B, conns int) Target {
		t, err := NewHTTPTarget(HTTPConfig{URL: fmt.Sprintf("http://%s/", hln.Addr()), MaxConnections: conns, Body: func(Query) []byte { return request }})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { t.Close() })
		return t
	}
	type variant struct {
		name     string
		parallel int
		target   func(b *testing.B) Target
	}
	variants := []variant{
		{"client=grpc/parallel=1/conns=1", 1, func(b *testing.B) Target { return grpcTarget(b, 1) }},
		{"client=fasthttp/parallel=1/conns=1", 1, func(b *testing.B) Target { return httpTarget(b, 1) }},
		{"client=fasthttp/parallel=64/conns=64", 64, func(b *testing.B) Target { return httpTarget(b, 64) }},
	}
	for _, n := range []int{1, 2, 4, 8, 16} {
		variants = append(variants, variant{fmt.Sprintf("client=grpc/parallel=64/conns=%d", n), 64, func(b *testing.B) Target { return grpcTarget(b, n) }})
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			t := v.target(b)
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			if err := t.Hit(ctx, Query{}); err != nil { // connect
				b.Fatal(err)
			}
			var seq atomic.Uint64
			b.ReportAllocs()
			b.ResetTimer()
			if v.parallel == 1 {
				for i := range b.N {
					if err := t.Hit(ctx, Query{Seq: uint64(i)}); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.SetParallelism(max(v.parallel/runtime.GOMAXPROCS(0), 1))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := t.Hit(ctx, Query{Seq: seq.Add(1)}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
