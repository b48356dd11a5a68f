package submission

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseDocument(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	valid := func() map[string]any {
		files := []any{}
		for _, f := range [][2]string{{"report.json", "report"}, {"junit.xml", "junit"}, {"report.html", "html"}, {"profile.yaml", "profile"}, {"modelcard.json", "modelcard"}, {"manifest.json", "golden-manifest"}} {
			files = append(files, map[string]any{"path": f[0], "role": f[1], "sha256": sha})
		}
		return map[string]any{"kind": "submission", "specVersion": "v1", "claimedLevels": []any{"core"}, "files": files}
	}
	files := func(d map[string]any) []any { return d["files"].([]any) }
	tests := []struct {
		name string
		edit func(d map[string]any)
		says string
	}{
		{"valid", func(map[string]any) {}, ""},
		{"without model card", func(d map[string]any) { d["files"] = append(files(d)[:4], files(d)[5]) }, ""},
		{"no claim", func(d map[string]any) { d["claimedLevels"] = []any{} }, "/claimedLevels"},
		{"unknown level", func(d map[string]any) { d["claimedLevels"] = []any{"gold"} }, "/claimedLevels/0"},
		{"no junit", func(d map[string]any) { d["files"] = append(files(d)[:1], files(d)[2:]...) }, "/files"},
		{"two reports", func(d map[string]any) {
			d["files"] = append(files(d), map[string]any{"path": "other.json", "role": "report", "sha256": sha})
		}, "/files"},
		{"path with a directory", func(d map[string]any) { files(d)[0].(map[string]any)["path"] = "../report.json" }, "/files/0/path"},
		{"short digest", func(d map[string]any) { files(d)[0].(map[string]any)["sha256"] = "abc" }, "/files/0/sha256"},
		{"unknown member", func(d map[string]any) { d["vendor"] = "acme" }, "vendor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := valid()
			tt.edit(d)
			b, _ := json.Marshal(d)
			doc, err := ParseDocument("s.json", b)
			if tt.says == "" {
				if err != nil {
					t.Fatal(err)
				}
				if doc.File(RoleReport) != "report.json" || doc.File(RoleGoldenManifest) != "manifest.json" {
					t.Errorf("files %+v", doc.Files)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "s.json: "+tt.says) && !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("error %v, want one at %s", err, tt.says)
			}
		})
	}
}
