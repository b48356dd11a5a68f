package load

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
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
