package conformance

import (
	"context"
	"crypto/x509"
	"time"

	"github.com/aiconform/aiconform/conformance/load"
)

// InferenceLoad describes the inference queries of a load run against
// one served model: each query carries samples drawn from the reference
// model's input domain (spec/v1/models.json) with the given seed, every
// query a sample no earlier query carried.
type InferenceLoad struct {
	// Target is the endpoint's base URL, e.g. http://127.0.0.1:8000.
	Target string
	// Model is the served model and the reference model it stands for.
	Model ModelRef
	// Seed seeds the samples; query Seq draws from its own stream of it.
	Seed uint64
	// Samples is the number of samples per query (the batch size); zero
	// means 1.
	Samples int
	// Token, when not empty, is sent as a bearer token.
	Token string
	// RootCAs verify an https target; nil uses the system roots.
	RootCAs *x509.CertPool
	// Timeout bounds each query; zero uses load.DefaultTimeout.
	Timeout time.Duration
	// MaxConnections bounds the open connections; zero uses
	// load.DefaultMaxConnections.
	MaxConnections int
}

// InferenceTarget is a load.Target that sends Open Inference Protocol
// inference requests for one served model and fails a query whose
// response is not a 200 carrying the contract's outputs.
type InferenceTarget struct{}

// NewInferenceTarget checks the description and returns its target.
func NewInferenceTarget(l InferenceLoad) (*InferenceTarget, error) { panic("unimplemented") }

// Hit implements load.Target.
func (t *InferenceTarget) Hit(ctx context.Context, q load.Query) error { panic("unimplemented") }

// Close closes the target's connections.
func (t *InferenceTarget) Close() error { panic("unimplemented") }
