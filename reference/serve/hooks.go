package serve

import (
	"net/http"

	"github.com/aiconform/aiconform/reference"
)

// The hooks below let other packages change how the server behaves without
// this package knowing them: each adds a wrapper at a fixed place of the
// chain a request goes through. From the outside in:
//
//	panic recovery and access log
//	  handler wrappers (WithHandlerWrapper), the first given outermost
//	    authentication (WithAuthToken, WithAuthExempt)
//	      the protocol's routes and validation
//	        model wrappers (WithModelWrapper), the first given innermost
//	          dynamic batcher (WithBatching)
//	            the model

// WithModelWrapper wraps every served model (each model id and version) in
// the model wrap returns, which serves that model's metadata and
// inference from then on. Wrappers sit above the dynamic batcher, so each
// Forward (or ForwardContext, which the server prefers when the wrapper
// has it; see ContextModel) is one request with its own batch, and below
// input validation, so they see only valid inputs. Wrappers apply in the
// order given, the first innermost. New fails when a wrapper returns nil,
// changes the model's id or version, or returns tensor specs New would
// reject in a model.
func WithModelWrapper(wrap func(reference.Model) reference.Model) Option {
	return func(c *config) { c.modelWrappers = append(c.modelWrappers, wrap) }
}

// WithHandlerWrapper wraps the protocol's handler in the handler wrap
// returns. Wrappers sit inside panic recovery and the access log, which
// see what a wrapper answers, and outside authentication, so they see
// every request, credentials or not. New calls wrap once; wrappers apply
// in the order given, the first outermost.
func WithHandlerWrapper(wrap func(http.Handler) http.Handler) Option {
	return func(c *config) { c.handlerWrappers = append(c.handlerWrappers, wrap) }
}

// WithAuthExempt serves the requests for which exempt reports true without
// a credential, as the server health probes are served. It needs
// WithAuthToken (New fails without it). Several exemptions add up: a
// request is exempt when any of them reports true.
func WithAuthExempt(exempt func(r *http.Request) bool) Option {
	return func(c *config) { c.authExempt = append(c.authExempt, exempt) }
}
