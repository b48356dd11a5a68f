package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/schemas"
)

func init() { registerCommand(newValidateCmd) }

// validateOptions are the inputs of `aiconform validate`.
type validateOptions struct {
	// Files are the documents to validate; "-" reads standard input (JSON).
	Files []string
	// Kind is KIND or KIND@VERSION; empty takes KIND from each file name of
	// the form NAME.KIND.EXT, else from the document's "kind" field, and the
	// latest schema version.
	Kind string
}

func newValidateCmd(s Streams) *cobra.Command {
	var o validateOptions
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Validate JSON or YAML documents against the aiconform schemas",
		Long: `Validate JSON or YAML documents (.yaml or .yml files are read as YAML) against
the schemas of the aiconform standard (see 'aiconform schema list').

The schema is chosen by --kind when given; otherwise by the file name when it
has the form NAME.KIND.EXT (acme.modelcard.yaml, req.oip-infer-request.json),
which is how Open Inference Protocol messages, which have no "kind" field,
validate without the flag; otherwise by the document's "kind" field. Each
violation is printed as FILE: /json/pointer: message, where / is the document
itself; each valid document as FILE: ok (kind K). All files are checked.
Values that look like credentials (tokens, passwords, Bearer headers) are
never printed.

Exit status: 0 all valid, 1 any invalid, 2 any file unreadable or
unparseable, or a kind missing or unknown.`,
		Example: `  aiconform validate testdata/examples/valid/*
  aiconform validate testdata/examples/valid/acme-cloud.modelcard.json
  aiconform validate --kind oip-infer-request request.json
  curl -s localhost:8000/v2 | aiconform validate --kind oip-server-metadata -`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Files = args
			return runValidate(o, s)
		},
	}
	cmd.Flags().StringVar(&o.Kind, "kind", "", "document kind, KIND or KIND@VERSION (default: KIND of a file named NAME.KIND.EXT, else the document's \"kind\" field; latest version)")
	return cmd
}

// runValidate validates every file and returns the worst outcome.
func runValidate(o validateOptions, s Streams) error {
	kind, version, err := parseKindRef(o.Kind)
	if err != nil {
		return usageError(err)
	}
	if kind != "" {
		if err := checkKindRef(kind, version); err != nil {
			return usageError(fmt.Errorf("--kind: %w", err))
		}
	}
	worst := ExitOK
	for _, f := range o.Files {
		worst = max(worst, validateFile(f, kind, version, s))
	}
	if worst != ExitOK {
		return exitCode(worst, nil)
	}
	return nil
}

// kindFromName returns KIND of a file named NAME.KIND.EXT when KIND is a
// schema kind, and "" otherwise (NAME may itself contain dots).
func kindFromName(name string) string {
	parts := strings.Split(filepath.Base(name), ".")
	if len(parts) < 3 || parts[0] == "" {
		return ""
	}
	k := parts[len(parts)-2]
	if checkKindRef(k, "") != nil {
		return ""
	}
	return k
}

// validateFile validates one file and reports on s: violations and ok lines
// on Out, problems that stop validation on Err. It returns the exit code.
func validateFile(name, kind, version string, s Streams) int {
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(s.In)
		name = "<stdin>"
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		fmt.Fprintf(s.Err, "%s: cannot read: %v\n", name, err)
		return ExitUsage
	}
	doc, err := schemas.DecodeDocument(name, data)
	if err != nil {
		fmt.Fprintln(s.Err, err) // the error names the file
		return ExitUsage
	}
	if kind == "" {
		kind = kindFromName(name)
	}
	if kind == "" {
		k, ok := schemas.KindOf(doc)
		switch {
		case !ok:
			fmt.Fprintf(s.Err, "%s: cannot tell the document kind: no \"kind\" field (a string) and the file name is not NAME.KIND.EXT; name it NAME.KIND.json (or .yaml) or pass --kind, KIND one of %s\n", name, strings.Join(schemas.Kinds(), ", "))
			return ExitUsage
		case checkKindRef(k, "") != nil:
			fmt.Fprintf(s.Err, "%s: unknown kind %s in the \"kind\" field; want one of %s\n", name, schemas.QuoteValue("kind", k), strings.Join(schemas.Kinds(), ", "))
			return ExitUsage
		}
		kind = k
	}
	vs, err := schemas.Validate(kind, version, doc)
	if err != nil {
		fmt.Fprintf(s.Err, "%s: %v\n", name, err)
		return ExitUsage
	}
	if len(vs) == 0 && kind == conformance.ProfileKind {
		// A profile also keeps the rules its schema cannot express (a
		// requirement declared not applicable must have an Applies-when
		// condition), and may hold what no requested level checks.
		p, err := conformance.ParseProfile(name, data)
		var pe *conformance.ProfileError
		switch {
		case errors.As(err, &pe):
			vs = pe.Violations
		case err != nil:
			fmt.Fprintf(s.Err, "%s: %v\n", name, err)
			return ExitUsage
		default:
			for _, w := range p.Warnings() {
				fmt.Fprintf(s.Err, "aiconform: warning: %s\n", w)
			}
		}
	}
	if len(vs) == 0 {
		fmt.Fprintf(s.Out, "%s: ok (kind %s)\n", name, kind)
		return ExitOK
	}
	for _, v := range vs {
		fmt.Fprintf(s.Out, "%s: %s\n", name, v) // Violation.String prints the root as "/"
	}
	return ExitFail
}
