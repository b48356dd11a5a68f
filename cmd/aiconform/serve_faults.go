package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/aiconform/aiconform/reference/serve"
	"github.com/aiconform/aiconform/reference/serve/faults"
	"github.com/aiconform/aiconform/spec"
)

// This file holds the fault-profile part of `aiconform serve`: --fault
// NAME (repeatable) and --list-faults.

// faultOptions turns the --fault names into options of serve.New (none
// without faults). An unknown or repeated name, or ignore-auth without
// --auth-token-env, is a usage error.
func faultOptions(names []string, authTokenEnv string) ([]serve.Option, error) {
	fs, err := faults.Lookup(names...)
	if err != nil {
		return nil, fmt.Errorf("serve: --fault: %w", err)
	}
	if slices.Contains(names, "ignore-auth") && authTokenEnv == "" {
		return nil, fmt.Errorf("serve: --fault ignore-auth needs --auth-token-env: without a token there is no authentication to ignore")
	}
	opts, err := faults.Options(fs...)
	if err != nil {
		return nil, fmt.Errorf("serve: --fault: %w", err)
	}
	return opts, nil
}

// faultTLS returns base with the TLS settings of the named faults (see
// faults.TLSConfig), or nil when base is nil. A fault that changes TLS
// settings without --tls-cert is a usage error.
func faultTLS(names []string, base *tls.Config) (*tls.Config, error) {
	fs, err := faults.Lookup(names...)
	if err != nil {
		return nil, fmt.Errorf("serve: --fault: %w", err)
	}
	if base == nil {
		for _, f := range fs {
			if f.NeedsTLS {
				return nil, fmt.Errorf("serve: --fault %s needs --tls-cert and --tls-key: it changes how the server speaks TLS", f.Name)
			}
		}
		return nil, nil
	}
	cfg, err := faults.TLSConfig(base, fs...)
	if err != nil {
		return nil, fmt.Errorf("serve: --fault: %w", err)
	}
	return cfg, nil
}

// listFaults writes one line per fault profile: its name, the requirement
// it breaks and what it does, with the requirements that fail with it and
// the bindings it does not show over.
func listFaults(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FAULT\tBREAKS\tWHAT THE SERVER DOES")
	for _, f := range faults.All() {
		what := f.Description
		if len(f.Also) > 0 {
			what += " (fails with it: " + strings.Join(f.Also, ", ") + ")"
		}
		for _, b := range spec.Bindings {
			if why, ok := f.NotOver[b]; ok {
				what += fmt.Sprintf(" (does not show over %s: %s)", b.Name(), why)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Name, f.Requirement, what)
	}
	return tw.Flush()
}

// faultBanner is the line serve prints when it runs with faults.
func faultBanner(names []string) string {
	return fmt.Sprintf("faults: %s (this server deliberately breaks the spec; see --list-faults)", strings.Join(names, ", "))
}
