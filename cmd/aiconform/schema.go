package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/aiconform/aiconform/schemas"
)

func init() { registerCommand(newSchemaCmd) }

func newSchemaCmd(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "List and show the JSON Schemas of the aiconform standard",
		Long: `The aiconform standard's JSON Schemas (draft 2020-12), one per document kind
and major version, are built into the tool. 'aiconform validate' checks
documents against them.`,
		// Runnable, so that an unknown subcommand is an error (exit 2).
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newSchemaListCmd(s), newSchemaShowCmd(s))
	return cmd
}

func newSchemaListCmd(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the document kinds, their schema versions and titles",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSchemaList(s)
		},
	}
}

// runSchemaList prints one line per kind: kind, versions, title of the
// latest version.
func runSchemaList(s Streams) error {
	w := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "KIND\tVERSIONS\tTITLE")
	for _, k := range schemas.Kinds() {
		vs, err := schemas.Versions(k)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", k, strings.Join(vs, ","), schemaTitle(k))
	}
	return w.Flush()
}

// schemaTitle returns the title of the latest schema of kind, or says why
// it has none.
func schemaTitle(kind string) string {
	src, err := schemas.Source(kind, "")
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	var head struct {
		Title string `json:"title"`
	}
	if err := json.Unmarshal(src, &head); err != nil {
		return fmt.Sprintf("(not valid JSON: %v)", err)
	}
	return head.Title
}

// schemaShowOptions are the inputs of `aiconform schema show`.
type schemaShowOptions struct {
	// Ref is KIND or KIND@VERSION.
	Ref string
}

func newSchemaShowCmd(s Streams) *cobra.Command {
	var o schemaShowOptions
	return &cobra.Command{
		Use:   "show KIND[@VERSION]",
		Short: "Print the JSON Schema of a document kind (the latest version unless @VERSION)",
		Example: `  aiconform schema show modelcard
  aiconform schema show oip-infer-request@v1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ref = args[0]
			return runSchemaShow(o, s)
		},
	}
}

func runSchemaShow(o schemaShowOptions, s Streams) error {
	kind, version, err := parseKindRef(o.Ref)
	if err != nil {
		return usageError(err)
	}
	if err := checkKindRef(kind, version); err != nil {
		return usageError(err)
	}
	src, err := schemas.Source(kind, version)
	if err != nil {
		return usageError(err)
	}
	if _, err := s.Out.Write(src); err != nil {
		return err
	}
	if len(src) > 0 && src[len(src)-1] != '\n' {
		_, err = fmt.Fprintln(s.Out)
	}
	return err
}

// parseKindRef splits KIND[@VERSION]; "" gives "", "".
func parseKindRef(ref string) (kind, version string, err error) {
	kind, version, hasVersion := strings.Cut(ref, "@")
	if hasVersion && (kind == "" || version == "") {
		return "", "", fmt.Errorf("%q: want KIND or KIND@VERSION, e.g. modelcard@v1", ref)
	}
	return kind, version, nil
}

// checkKindRef says whether kind exists and has version ("" for the latest),
// and if not, what exists.
func checkKindRef(kind, version string) error {
	vs, err := schemas.Versions(kind)
	if err != nil {
		return fmt.Errorf("unknown kind %q; want one of %s", kind, strings.Join(schemas.Kinds(), ", "))
	}
	if version != "" && !slices.Contains(vs, version) {
		return fmt.Errorf("kind %q has no schema version %q; it has %s", kind, version, strings.Join(vs, ", "))
	}
	return nil
}
