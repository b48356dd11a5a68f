package serve

import (
	"expvar"
	"net/http"
	"net/http/pprof"
	"runtime"
	"sync"
)

// publishDebugVars publishes, once per process, the expvar variables the
// debug handler adds to expvar's own (cmdline and memstats).
var publishDebugVars = sync.OnceFunc(func() {
	expvar.Publish("goroutines", expvar.Func(func() any { return runtime.NumGoroutine() }))
})

// DebugHandler returns the handler of an operator's debug listener, which
// must never be the protocol's listener (the profiles show the process's
// internals and pprof can hold the CPU for the seconds asked for):
//
//	GET /debug/pprof/            net/http/pprof: the index, then
//	                             /debug/pprof/heap, goroutine, allocs,
//	                             profile?seconds=N, trace?seconds=N, …
//	GET /debug/vars              expvar as JSON: cmdline, memstats (the
//	                             runtime.MemStats) and goroutines (the
//	                             number of goroutines)
//
// Anything else is 404. The handler is safe for concurrent use; several
// handlers may coexist in a process and show the same process-wide data.
func DebugHandler() http.Handler {
	publishDebugVars()
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/debug/vars", expvar.Handler())
	return mux
}
