package submission

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aiconform/aiconform/attest"
	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/spec"
)

// readme states the claim of a bundle for a person: the target, the
// versions, the claimed levels, the verdicts, the files with their sha256
// and how to verify them.
func readme(rep *conformance.Report, doc *Document, docJSON []byte, pub *attest.PublicKey) []byte {
	var b bytes.Buffer
	claimed := levelList(doc.ClaimedLevels)
	fmt.Fprintf(&b, "# Conformance submission: %s\n\n", mdCell(rep.Target))
	fmt.Fprintf(&b, "This bundle claims that the endpoint %s conforms to the aiconform standard %s at the level(s) %s, by the rules of the standard's \"Conformance claims\".\n\n",
		mdCell(rep.Target), rep.SpecVersion, claimed)
	b.WriteString("| | |\n|---|---|\n")
	row := func(cells ...string) { fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | ")) }
	row("Target", mdCell(rep.Target))
	row("Standard", "aiconform "+rep.SpecVersion)
	row("Tool", mdCell(rep.Tool.Name+" "+rep.Tool.Version))
	row("Profile", fmt.Sprintf("%s (sha256 `%s`)", mdCell(rep.Profile.Name), rep.Profile.SHA256))
	row("Run", rep.StartTime.UTC().Format(time.RFC3339)+" to "+rep.EndTime.UTC().Format(time.RFC3339))
	row("Claimed levels", claimed)
	row("Signed by", "Ed25519 key `"+pub.KeyID()+"`")

	b.WriteString("\n## Verdicts\n\n| Level | Requested | Verdict | Claim |\n|---|---|---|---|\n")
	for _, l := range spec.Levels {
		requested, claim := "no", "not requested"
		if slices.Contains(rep.RequestedLevels, l) {
			requested, claim = "yes", "not claimed"
		}
		if slices.Contains(doc.ClaimedLevels, l) {
			claim = "**claimed**"
		}
		row(string(l), requested, string(rep.Levels[l]), claim)
	}
	fmt.Fprintf(&b, "\nOverall verdict (every requested level): %s. Checks: %d pass, %d fail, %d skip, %d error.\n",
		rep.Verdict, rep.Summary.Pass, rep.Summary.Fail, rep.Summary.Skip, rep.Summary.Error)

	b.WriteString("\n## Files\n\n| File | What it is | sha256 |\n|---|---|---|\n")
	for _, f := range doc.Files {
		row(f.Path, roleText[f.Role], "`"+f.SHA256+"`")
	}
	row(DocumentFile, "the claimed levels and the files above, machine-readable", "`"+golden.Digest(docJSON)+"`")
	fmt.Fprintf(&b, "\n%s is the signed in-toto attestation of every other file of the bundle, this README included.\n", AttestationFile)

	fmt.Fprintf(&b, "\n## How to verify\n\nWith the submitter's public key (key id `%s`), where BUNDLE is this directory or its .tar.gz:\n\n", pub.KeyID())
	b.WriteString("    aiconform verify-submission BUNDLE --pub submitter.pub\n\n")
	b.WriteString("checks the signature; that every file of the bundle is attested, with its sha256; the schema of every document; " +
		"that junit.xml has one testcase per check, with the check's status; that the report's verdicts, summary, uncovered requirements, " +
		"warnings and claims follow from its checks; that the claim rules hold at every claimed level; that the golden manifest is the one " +
		"the standard publishes; that the profile and model card are the ones the report records; and that the attestation's predicate " +
		"agrees with the report.\n\n")
	fmt.Fprintf(&b, "    aiconform report verify --pub submitter.pub %s\n\nchecks the signature and the sha256 of every file alone.\n", AttestationFile)
	return b.Bytes()
}

// roleText says what a file of each role is.
var roleText = map[Role]string{
	RoleReport:         "the report of the run",
	RoleJUnit:          "the report as JUnit XML",
	RoleHTML:           "the report as an HTML page",
	RoleProfile:        "the profile of the run",
	RoleModelCard:      "the model card the profile names",
	RoleGoldenManifest: "the golden manifest the run compared against",
}

// mdCell escapes text for a Markdown table cell.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ").Replace(s)
}
