package kubernetes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// indexVar is the variable the Job controller sets to each pod's
// completion index, and its reference as the kubelet expands it in args.
const (
	indexVar    = "JOB_COMPLETION_INDEX"
	indexVarRef = "$(" + indexVar + ")"
)

// decodeStrict reads a one-document YAML manifest into v: YAML to JSON,
// then JSON into the API type with unknown fields refused, so that a
// misspelt or misplaced field fails the test instead of being ignored.
func decodeStrict(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("\n---")) {
		t.Fatalf("%s: want one document per file", file)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// flagValues splits args of the form --name=value into a map; a bare
// argument (no leading --) is a positional one.
func flagValues(t *testing.T, file string, args []string) (flags map[string]string, positional []string) {
	t.Helper()
	flags = map[string]string{}
	for _, a := range args {
		name, ok := strings.CutPrefix(a, "--")
		if !ok {
			positional = append(positional, a)
			continue
		}
		k, v, ok := strings.Cut(name, "=")
		if !ok {
			t.Errorf("%s: argument %q: want --name=value, so that the manifest reads unambiguously", file, a)
			continue
		}
		if _, dup := flags[k]; dup {
			t.Errorf("%s: --%s given twice", file, k)
		}
		flags[k] = v
	}
	return flags, positional
}

// oneContainer returns the pod's only container.
func oneContainer(t *testing.T, file string, spec corev1.PodSpec) corev1.Container {
	t.Helper()
	if len(spec.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", file, len(spec.Containers))
	}
	return spec.Containers[0]
}

// mountOf returns the mount path of the container's volume backed by the
// claim, and the mount itself.
func mountOf(t *testing.T, file string, spec corev1.PodSpec, c corev1.Container, claim string) corev1.VolumeMount {
	t.Helper()
	for _, v := range spec.Volumes {
		if v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != claim {
			continue
		}
		for _, m := range c.VolumeMounts {
			if m.Name == v.Name {
				return m
			}
		}
	}
	t.Fatalf("%s: container %s mounts no volume of claim %s", file, c.Name, claim)
	return corev1.VolumeMount{}
}

// checkHardened checks what every pod here promises: non-root, a
// read-only root file system, no privilege escalation, no capabilities,
// the runtime's seccomp profile, no service account token, and resource
// requests and limits for CPU and memory.
func checkHardened(t *testing.T, file string, spec corev1.PodSpec) {
	t.Helper()
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s: the pod must run as a non-root user (runAsNonRoot and a non-zero runAsUser)", file)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: the pod must use the RuntimeDefault seccomp profile", file)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: the pod talks to no API server; automountServiceAccountToken must be false", file)
	}
	if spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("%s: restartPolicy is %q, want Never", file, spec.RestartPolicy)
	}
	for _, c := range spec.Containers {
		sc := c.SecurityContext
		switch {
		case sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("%s: container %s: want readOnlyRootFilesystem: true", file, c.Name)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s: container %s: want allowPrivilegeEscalation: false", file, c.Name)
		case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}):
			t.Errorf("%s: container %s: want capabilities drop [ALL]", file, c.Name)
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, okReq := c.Resources.Requests[r]
			lim, okLim := c.Resources.Limits[r]
			switch {
			case !okReq || !okLim:
				t.Errorf("%s: container %s: want a request and a limit of %s", file, c.Name, r)
			case req.Cmp(lim) > 0:
				t.Errorf("%s: container %s: %s request %s is above its limit %s", file, c.Name, r, req.String(), lim.String())
			}
		}
	}
}

// TestManifests decodes every manifest strictly and checks that the load
// Job, the merge Job and the volume fit together.
func TestManifests(t *testing.T) {
	var pvc corev1.PersistentVolumeClaim
	var loadJob, mergeJob batchv1.Job
	var fetch corev1.Pod
	decodeStrict(t, "pvc.yaml", &pvc)
	decodeStrict(t, "load-job.yaml", &loadJob)
	decodeStrict(t, "merge-job.yaml", &mergeJob)
	decodeStrict(t, "fetch-pod.yaml", &fetch)

	// Every YAML file here is one of the manifests above.
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"fetch-pod.yaml", "load-job.yaml", "merge-job.yaml", "pvc.yaml"}; !slices.Equal(files, want) {
		t.Errorf("manifests %v, want %v (a new one needs its checks here)", files, want)
	}

	for _, m := range []struct {
		file, apiVersion, kind string
		got                    [2]string
	}{
		{"pvc.yaml", "v1", "PersistentVolumeClaim", [2]string{pvc.APIVersion, pvc.Kind}},
		{"load-job.yaml", "batch/v1", "Job", [2]string{loadJob.APIVersion, loadJob.Kind}},
		{"merge-job.yaml", "batch/v1", "Job", [2]string{mergeJob.APIVersion, mergeJob.Kind}},
		{"fetch-pod.yaml", "v1", "Pod", [2]string{fetch.APIVersion, fetch.Kind}},
	} {
		if m.got != [2]string{m.apiVersion, m.kind} {
			t.Errorf("%s: apiVersion/kind %s/%s, want %s/%s", m.file, m.got[0], m.got[1], m.apiVersion, m.kind)
		}
	}

	// The volume is shared by pods on different nodes.
	if !slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteMany) {
		t.Errorf("pvc.yaml: access modes %v, want ReadWriteMany: the shards run on several nodes", pvc.Spec.AccessModes)
	}
	claim := pvc.Name

	// The load Job: Indexed, N completions all at once, no retries.
	spec := loadJob.Spec
	if spec.CompletionMode == nil || *spec.CompletionMode != batchv1.IndexedCompletion {
		t.Fatalf("load-job.yaml: completionMode must be Indexed")
	}
	if spec.Completions == nil || spec.Parallelism == nil || *spec.Completions != *spec.Parallelism || *spec.Completions < 1 {
		t.Fatalf("load-job.yaml: completions and parallelism must be set and equal, so that every shard runs at once")
	}
	n := int(*spec.Completions)
	if spec.BackoffLimitPerIndex == nil || *spec.BackoffLimitPerIndex != 0 {
		t.Errorf("load-job.yaml: backoffLimitPerIndex must be 0: a retried shard sends its stream at another time than the others")
	}
	checkHardened(t, "load-job.yaml", spec.Template.Spec)
	lc := oneContainer(t, "load-job.yaml", spec.Template.Spec)
	lflags, lpos := flagValues(t, "load-job.yaml", lc.Args)
	if !slices.Equal(lpos, []string{"load"}) {
		t.Errorf("load-job.yaml: positional args %q, want [load]", lpos)
	}
	if got, want := lflags["shard"], fmt.Sprintf("auto/%d", n); got != want {
		t.Errorf("load-job.yaml: --shard=%s, want %s (the index from $%s, the count the Job's completions)", got, want, indexVar)
	}
	for _, f := range []string{"target", "model", "rate", "duration", "seed", "start-at"} {
		if lflags[f] == "" {
			t.Errorf("load-job.yaml: --%s is missing; every shard of the plan needs it", f)
		}
	}
	if _, err := strconv.ParseUint(lflags["seed"], 0, 64); err != nil {
		t.Errorf("load-job.yaml: --seed=%s: the shards must share an explicit seed: %v", lflags["seed"], err)
	}
	if m, ok := lflags["min-queries"]; ok {
		if q, err := strconv.ParseInt(m, 10, 64); err != nil || q%int64(n) != 0 {
			t.Errorf("load-job.yaml: --min-queries=%s: want a multiple of the %d shards (each takes the quotient rounded up)", m, n)
		}
	}
	if a := lflags["arrival"]; a != "" && a != "poisson" {
		t.Errorf("load-job.yaml: --arrival=%s: only a Poisson plan shards", a)
	}
	if _, ok := lflags["concurrency"]; ok {
		t.Errorf("load-job.yaml: --concurrency: a closed-loop plan does not shard")
	}
	// --start-at comes from a variable the container defines.
	if ref, ok := strings.CutPrefix(lflags["start-at"], "$("); ok {
		name := strings.TrimSuffix(ref, ")")
		if !slices.ContainsFunc(lc.Env, func(e corev1.EnvVar) bool { return e.Name == name }) {
			t.Errorf("load-job.yaml: --start-at refers to $(%s), which the container does not define", name)
		}
	}
	lmount := mountOf(t, "load-job.yaml", spec.Template.Spec, lc, claim)
	if lmount.SubPath != "" || lmount.SubPathExpr != "" || lmount.ReadOnly {
		t.Errorf("load-job.yaml: mount the whole volume read-write; --out names the shard's directory")
	}
	out := lflags["out"]
	if !strings.Contains(out, indexVarRef) {
		t.Fatalf("load-job.yaml: --out=%s does not contain %s, so the shards would write one directory", out, indexVarRef)
	}
	// The directories the shards write, as paths inside the volume.
	var shardDirs []string
	for i := range n {
		dir := strings.ReplaceAll(out, indexVarRef, strconv.Itoa(i))
		rel, ok := strings.CutPrefix(path.Clean(dir), path.Clean(lmount.MountPath)+"/")
		if !ok {
			t.Fatalf("load-job.yaml: --out=%s is not on the results volume (mounted at %s)", out, lmount.MountPath)
		}
		shardDirs = append(shardDirs, rel)
	}

	// The merge Job reads exactly those directories, from the same image.
	checkHardened(t, "merge-job.yaml", mergeJob.Spec.Template.Spec)
	if c := mergeJob.Spec.Completions; c != nil && *c != 1 {
		t.Errorf("merge-job.yaml: completions %d, want 1", *c)
	}
	mc := oneContainer(t, "merge-job.yaml", mergeJob.Spec.Template.Spec)
	if mc.Image != lc.Image {
		t.Errorf("merge-job.yaml: image %s, but the shards run %s", mc.Image, lc.Image)
	}
	mflags, mpos := flagValues(t, "merge-job.yaml", mc.Args)
	if len(mpos) < 2 || mpos[0] != "load" || mpos[1] != "merge" {
		t.Fatalf("merge-job.yaml: args %q, want load merge DIR...", mc.Args)
	}
	mmount := mountOf(t, "merge-job.yaml", mergeJob.Spec.Template.Spec, mc, claim)
	var read []string
	for _, d := range mpos[2:] {
		rel, ok := strings.CutPrefix(path.Clean(d), path.Clean(mmount.MountPath)+"/")
		if !ok {
			t.Errorf("merge-job.yaml: %s is not on the results volume (mounted at %s)", d, mmount.MountPath)
		}
		read = append(read, rel)
	}
	if !slices.Equal(read, shardDirs) {
		t.Errorf("merge-job.yaml: reads %q of the volume, but the %d shards write %q", read, n, shardDirs)
	}
	if o := mflags["out"]; o != "" {
		rel, _ := strings.CutPrefix(path.Clean(o), path.Clean(mmount.MountPath)+"/")
		if slices.Contains(shardDirs, rel) {
			t.Errorf("merge-job.yaml: --out=%s is a shard's directory", o)
		}
	}

	// The fetch pod reads the same volume, read-only.
	checkHardened(t, "fetch-pod.yaml", fetch.Spec)
	fc := oneContainer(t, "fetch-pod.yaml", fetch.Spec)
	if m := mountOf(t, "fetch-pod.yaml", fetch.Spec, fc, claim); !m.ReadOnly {
		t.Errorf("fetch-pod.yaml: mount the results read-only")
	}
}
