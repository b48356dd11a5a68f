// Package schemas holds the versioned JSON Schemas (draft 2020-12) of every
// document aiconform reads or writes, and validates documents against them.
//
// The schemas live in this folder, one folder per document kind and one
// file per major version:
//
//	schemas/modelcard/v1.schema.json
//	schemas/oip-infer-request/v1.schema.json
//	...
//
// Every file matching */v*.schema.json is embedded, so a new kind or a new
// major version is added by adding its file. A schema's $id is
// https://aiconform.dev/schemas/<kind>/<version>.schema.json; $refs between
// schemas resolve against the embedded tree only, never the network.
package schemas

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

//go:embed */v*.schema.json
var files embed.FS

// BaseURL is the URL prefix of every schema's $id.
const BaseURL = "https://aiconform.dev/schemas/"

// ErrUnknownKind is returned (wrapped) for a kind with no embedded schema.
var ErrUnknownKind = errors.New("unknown document kind")

// ErrUnknownVersion is returned (wrapped) for a version a kind does not have.
var ErrUnknownVersion = errors.New("unknown schema version")

var (
	kindPattern = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	filePattern = regexp.MustCompile(`^v([1-9][0-9]*)\.schema\.json$`)
)

// tree is the embedded schemas indexed by kind, versions sorted oldest first.
type tree map[string][]string

// index scans the embedded files once.
var index = sync.OnceValue(func() tree {
	t := tree{}
	dirs, _ := fs.ReadDir(files, ".")
	for _, d := range dirs {
		if !d.IsDir() || !kindPattern.MatchString(d.Name()) {
			continue
		}
		entries, _ := fs.ReadDir(files, d.Name())
		for _, e := range entries {
			if filePattern.MatchString(e.Name()) {
				t[d.Name()] = append(t[d.Name()], strings.TrimSuffix(e.Name(), ".schema.json"))
			}
		}
	}
	for k := range t {
		slices.SortFunc(t[k], func(a, b string) int { return versionNumber(a) - versionNumber(b) })
	}
	return t
})

// versionNumber returns N of "vN" (versions are checked by filePattern).
func versionNumber(v string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(v, "v"))
	return n
}

// Kinds returns the document kinds that have an embedded schema, sorted.
func Kinds() []string {
	t := index()
	kinds := make([]string, 0, len(t))
	for k := range t {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	return kinds
}

// Versions returns the schema versions of kind, oldest first (e.g. ["v1"]).
func Versions(kind string) ([]string, error) {
	vs, ok := index()[kind]
	if !ok {
		return nil, unknownKind(kind)
	}
	return slices.Clone(vs), nil
}

// resolve checks kind and version and returns the version, the latest one
// when version is "".
func resolve(kind, version string) (string, error) {
	vs, ok := index()[kind]
	if !ok {
		return "", unknownKind(kind)
	}
	if version == "" {
		return vs[len(vs)-1], nil
	}
	if !slices.Contains(vs, version) {
		return "", fmt.Errorf("schemas: %w %q of kind %q (have %s)", ErrUnknownVersion, version, kind, strings.Join(vs, ", "))
	}
	return version, nil
}

func unknownKind(kind string) error {
	return fmt.Errorf("schemas: %w %q (want one of %s)", ErrUnknownKind, kind, strings.Join(Kinds(), ", "))
}

// Source returns the raw text of the schema of kind at version; version ""
// means the latest.
func Source(kind, version string) ([]byte, error) {
	v, err := resolve(kind, version)
	if err != nil {
		return nil, err
	}
	b, err := files.ReadFile(filePath(kind, v))
	if err != nil {
		return nil, fmt.Errorf("schemas: %w", err)
	}
	return b, nil
}

// URL returns the $id of the schema of kind at version.
func URL(kind, version string) string {
	return BaseURL + filePath(kind, version)
}

func filePath(kind, version string) string {
	return path.Join(kind, version+".schema.json")
}
