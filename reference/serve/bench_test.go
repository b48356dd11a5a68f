package serve

// Serving benchmarks of seed-cnn fp32, one image per request (batch 1):
//
//	BenchmarkServeSeedCNN/path={bare,http}/batching={unbatched,pool,batched}/clients={1,8,64}
//
// path=bare calls the model's Forward directly; path=http sends each
// request as JSON over loopback HTTP to a real listener of the reference
// server, reusing connections. batching=unbatched is the model itself;
// pool is the dynamic batcher with MaxBatch 1 (its worker pool bounds the
// forward passes running at once but merges nothing: a control); batched
// is the batcher with its defaults. Each of the clients sends its next
// request as soon as its previous one is answered. Each benchmark reports
// requests/s, the p50 and p99 latency in ms (nearest-rank percentiles of
// every request's latency, spec/v1 performance.md rule 4) and, through the
// batcher, the mean rows per forward pass. BenchmarkSeedCNNForward gives
// the cost per image of one forward pass by batch size.
//
//	BenchmarkGRPCInfer/contents={typed,raw}/clients={1,8,64}
//
// sends the same requests over the gRPC binding (GRPCServer, served by
// ServeGRPC on a loopback port) to the unbatched server, with typed
// contents (fp32_contents in, typed outputs) or raw contents (raw in, raw
// out), all clients sharing one connection as gRPC clients do: beside
// path=http/batching=unbatched, it measures what the gRPC gateway costs.
//
// docs/performance.md ("Reference server") has the method, the numbers and
// how to run them in interleaved rounds on a shared machine.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/oip/grpcbind"
	pb "github.com/aiconform/aiconform/oip/inferencepb"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/spec"
)

// benchImages is the number of distinct images the requests cycle through.
const benchImages = 64

// benchConcurrency are the numbers of concurrent clients measured.
var benchConcurrency = []int{1, 8, 64}

func BenchmarkServeSeedCNN(b *testing.B) {
	m := builtinModel(b, reference.SeedCNNID, reference.VersionFP32)
	r := rand.New(rand.NewPCG(7, 7))
	images := make([]map[string]numerics.Tensor, benchImages)
	bodies := make([][]byte, benchImages)
	for i := range images {
		images[i] = cnnImages(r, 1)
		data, err := oip.EncodeData(images[i]["input"])
		if err != nil {
			b.Fatal(err)
		}
		body, err := json.Marshal(oip.InferenceRequest{Inputs: []oip.RequestInput{{
			Name: "input", Datatype: "FP32", Shape: []int64{1, 1, 28, 28}, Data: data,
		}}})
		if err != nil {
			b.Fatal(err)
		}
		bodies[i] = body
	}
	for _, mode := range []struct {
		name     string
		batching *BatchConfig
	}{
		{"unbatched", nil},
		// The batcher with MaxBatch 1: its worker pool bounds the forward
		// passes running at once, but merges nothing. It tells what
		// merging adds from what bounding the concurrency does.
		{"pool", &BatchConfig{MaxBatch: 1}},
		{"batched", &BatchConfig{}},
	} {
		b.Run("path=bare/batching="+mode.name, func(b *testing.B) {
			var model reference.Model = m
			var bt *batcher
			if mode.batching != nil {
				c := config{batching: mode.batching}
				if err := c.resolveBatching(); err != nil {
					b.Fatal(err)
				}
				bt = newBatcher(m, *c.batching)
				model = bt
			}
			for _, conc := range benchConcurrency {
				b.Run(fmt.Sprintf("clients=%d", conc), func(b *testing.B) {
					send := func(i int) error {
						_, err := model.Forward(images[i%benchImages])
						return err
					}
					runLoad(b, conc, send, bt)
				})
			}
		})
		b.Run("path=http/batching="+mode.name, func(b *testing.B) {
			var opts []Option
			if mode.batching != nil {
				opts = append(opts, WithBatching(*mode.batching))
			}
			// Every client gets a slot: the benchmark measures queueing,
			// not the 503 answers of the concurrency limit.
			opts = append(opts, WithMaxConcurrent(4*slices.Max(benchConcurrency)))
			srv, err := New([]reference.Model{m}, opts...)
			if err != nil {
				b.Fatal(err)
			}
			bt, _ := srv.models[reference.SeedCNNID].versions[reference.VersionFP32].(*batcher)
			url, stop := listenForBench(b, srv.Handler())
			defer stop()
			client := &http.Client{Transport: &http.Transport{
				MaxIdleConns:        2 * slices.Max(benchConcurrency),
				MaxIdleConnsPerHost: 2 * slices.Max(benchConcurrency),
				IdleConnTimeout:     time.Minute,
				DisableCompression:  true,
			}}
			defer client.CloseIdleConnections()
			infer := url + "/v2/models/seed-cnn/versions/fp32/infer"
			checkHTTPAnswer(b, client, infer, bodies[0], m, images[0])
			for _, conc := range benchConcurrency {
				b.Run(fmt.Sprintf("clients=%d", conc), func(b *testing.B) {
					send := func(i int) error {
						resp, err := client.Post(infer, "application/json", bytes.NewReader(bodies[i%benchImages]))
						if err != nil {
							return err
						}
						defer resp.Body.Close()
						if _, err := io.Copy(io.Discard, resp.Body); err != nil {
							return err
						}
						if resp.StatusCode != http.StatusOK {
							return fmt.Errorf("status %s", resp.Status)
						}
						return nil
					}
					runLoad(b, conc, send, bt)
				})
			}
		})
	}
}

// runLoad sends b.N requests from conc concurrent clients, each sending
// its next request when the previous one is answered, after an untimed
// warm-up, and reports requests/s, p50 and p99 latency and, for a batcher,
// the mean number of rows per forward pass.
func runLoad(b *testing.B, conc int, send func(i int) error, bt *batcher) {
	b.Helper()
	run := func(n int, lat []time.Duration) (time.Duration, error) {
		var next atomic.Int64
		var firstErr error
		var once sync.Once
		var wg sync.WaitGroup
		start := time.Now()
		for range conc {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= n {
						return
					}
					t0 := time.Now()
					if err := send(i); err != nil {
						once.Do(func() { firstErr = fmt.Errorf("request %d: %w", i, err) })
						return
					}
					if lat != nil {
						lat[i] = time.Since(t0)
					}
				}
			})
		}
		wg.Wait()
		return time.Since(start), firstErr
	}
	// Warm up: connections, and the compiled graphs of the batch sizes
	// the load produces.
	if _, err := run(max(4*conc, 32), nil); err != nil {
		b.Fatalf("warm-up: %v", err)
	}
	var before batchStats
	if bt != nil {
		before = bt.stats()
	}
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	elapsed, err := run(b.N, lat)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(ms(nearestRank(lat, 0.50)), "p50-ms")
	b.ReportMetric(ms(nearestRank(lat, 0.99)), "p99-ms")
	if bt != nil {
		after := bt.stats()
		if f := after.Forwards - before.Forwards; f > 0 {
			b.ReportMetric(float64(b.N)/float64(f), "rows/forward")
		}
	}
}

// nearestRank returns the p-th percentile of sorted: its ⌈p·n⌉-th
// smallest element.
func nearestRank(sorted []time.Duration, p float64) time.Duration {
	k := max(int(math.Ceil(p*float64(len(sorted)))), 1)
	return sorted[k-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// listenForBench serves h on a loopback port until stop is called, and
// returns its base URL.
func listenForBench(b *testing.B, h http.Handler) (url string, stop func()) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Serve(ctx, ln, h) }()
	return "http://" + ln.Addr().String(), func() {
		cancel()
		if err := <-errc; err != nil {
			b.Errorf("server: %v", err)
		}
	}
}

// checkHTTPAnswer checks once that the server answers body with what the
// model computes for in, so that the benchmark times correct answers.
func checkHTTPAnswer(b *testing.B, client *http.Client, url string, body []byte, m reference.Model, in map[string]numerics.Tensor) {
	b.Helper()
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var got oip.InferenceResponse
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("status %s, decoding the answer: %v", resp.Status, err)
	}
	want, err := m.Forward(in)
	if err != nil {
		b.Fatal(err)
	}
	tol, _ := spec.Tolerance("fp32")
	for _, out := range got.Outputs {
		t, err := oip.DecodeData(out.Datatype, out.Shape, out.Data)
		if err != nil {
			b.Fatalf("output %q: %v", out.Name, err)
		}
		if d := numerics.Compare(t, want[out.Name], tol); !d.OK() {
			b.Fatalf("output %q over HTTP differs from the model's: %s", out.Name, d.Summary(tol))
		}
	}
	if len(got.Outputs) != len(want) {
		b.Fatalf("%d outputs over HTTP, want %d", len(got.Outputs), len(want))
	}
}

// BenchmarkSeedCNNForward times one forward pass of seed-cnn fp32 over a
// batch of n images, on one goroutine, and reports the cost per image:
// what dynamic batching can save per request.
func BenchmarkSeedCNNForward(b *testing.B) {
	m := builtinModel(b, reference.SeedCNNID, reference.VersionFP32)
	for _, n := range []int{1, 2, 4, 8, 16} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			in := cnnImages(rand.New(rand.NewPCG(1, uint64(n))), n)
			if _, err := m.Forward(in); err != nil { // builds the graph
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := m.Forward(in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(n)/float64(time.Millisecond), "ms/row")
		})
	}
}

func BenchmarkGRPCInfer(b *testing.B) {
	m := builtinModel(b, reference.SeedCNNID, reference.VersionFP32)
	r := rand.New(rand.NewPCG(7, 7))
	images := make([]map[string]numerics.Tensor, benchImages)
	for i := range images {
		images[i] = cnnImages(r, 1)
	}
	srv, err := New([]reference.Model{m}, WithMaxConcurrent(4*slices.Max(benchConcurrency)))
	if err != nil {
		b.Fatal(err)
	}
	c := dialGRPC(b, serveGRPC(b, srv, nil).addr)
	for _, contents := range []string{"typed", "raw"} {
		reqs := make([]*pb.ModelInferRequest, benchImages)
		for i := range reqs {
			reqs[i] = grpcInferRequest(b, reference.SeedCNNID, reference.VersionFP32, "", images[i], contents == "raw")
		}
		checkGRPCAnswer(b, c, reqs[0], m, images[0])
		b.Run("contents="+contents, func(b *testing.B) {
			for _, conc := range benchConcurrency {
				b.Run(fmt.Sprintf("clients=%d", conc), func(b *testing.B) {
					send := func(i int) error {
						ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
						defer cancel()
						_, err := c.ModelInfer(ctx, reqs[i%benchImages])
						return err
					}
					runLoad(b, conc, send, nil)
				})
			}
		})
	}
}

// checkGRPCAnswer checks once that the gRPC binding answers req with what
// the model computes for in, raw outputs for raw inputs, so that the
// benchmark times correct answers.
func checkGRPCAnswer(b *testing.B, c pb.GRPCInferenceServiceClient, req *pb.ModelInferRequest, m reference.Model, in map[string]numerics.Tensor) {
	b.Helper()
	resp, err := c.ModelInfer(context.Background(), req)
	if err != nil {
		b.Fatal(err)
	}
	if raw := len(req.RawInputContents) > 0; raw != (len(resp.RawOutputContents) > 0) {
		b.Fatalf("raw inputs %v, %d raw outputs", raw, len(resp.RawOutputContents))
	}
	body, header, err := grpcbind.ResponseToREST(resp)
	if err != nil {
		b.Fatal(err)
	}
	js, bin, err := oip.SplitBody(body, header.Get(oip.HeaderInferenceContentLength))
	if err != nil {
		b.Fatal(err)
	}
	var got oip.InferenceResponse
	if err := json.Unmarshal(js, &got); err != nil {
		b.Fatal(err)
	}
	outs, err := oip.DecodeOutputs(got, bin)
	if err != nil {
		b.Fatal(err)
	}
	want, err := m.Forward(in)
	if err != nil {
		b.Fatal(err)
	}
	tol, _ := spec.Tolerance("fp32")
	for name, w := range want {
		if d := numerics.Compare(outs[name], w, tol); !d.OK() {
			b.Fatalf("output %q over gRPC differs from the model's: %s", name, d.Summary(tol))
		}
	}
	if len(outs) != len(want) {
		b.Fatalf("%d outputs over gRPC, want %d", len(outs), len(want))
	}
}
