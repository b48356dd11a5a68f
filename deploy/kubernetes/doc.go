// Package kubernetes holds the manifests that run `aiconform load` as N
// shards of one plan on a Kubernetes cluster (an Indexed Job writing to a
// shared volume, then a Job merging the shards), and the test that
// decodes them strictly and checks that the pieces fit together. See
// README.md in this directory.
package kubernetes
