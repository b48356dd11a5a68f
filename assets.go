// Package aiconform is the root of the aiconform module. It embeds the
// published artefacts of the standard that the tools need at run time: the
// reference models' weights and the published golden set.
package aiconform

import (
	"embed"
	"io/fs"
)

// published holds testdata/weights and testdata/goldens as committed.
// (go:embed accepts directories named testdata: only the go command's
// package discovery ignores them.)
//
//go:embed testdata/weights testdata/goldens
var published embed.FS

// sub returns published rooted at dir; dir is a constant that the embed
// pattern includes, so fs.Sub cannot fail.
func sub(dir string) fs.FS {
	f, err := fs.Sub(published, dir)
	if err != nil {
		panic("aiconform: embedded " + dir + ": " + err.Error())
	}
	return f
}

// Weights returns the published weights of the reference models, rooted at
// testdata/weights: one <model-id>.safetensors file per model (F32 tensors
// in PyTorch state_dict names and layouts).
func Weights() fs.FS { return sub("testdata/weights") }

// Goldens returns the published golden set of spec v1, rooted at
// testdata/goldens/v1: manifest.json and the case files it lists (paths in
// the manifest are relative to this root).
func Goldens() fs.FS { return sub("testdata/goldens/v1") }

// Testdata returns the embedded part of testdata/ rooted at testdata, with
// weights/ and goldens/ below it. Golden manifests record the path of their
// weights relative to this root (e.g. "weights/seed-cnn.safetensors"),
// because a path relative to the manifest would need "..", which fs.FS
// paths cannot hold.
func Testdata() fs.FS { return sub("testdata") }
