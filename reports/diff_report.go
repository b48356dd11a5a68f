package reports

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/spec"
)

// notRequested stands for a level one report did not request.
const notRequested = "not requested"

// verdictRank orders level verdicts from worst to best: a requested level
// that did not run does not pass, but it is better than one that failed.
var verdictRank = map[spec.Verdict]int{spec.VerdictFail: 0, spec.VerdictNotRun: 1, spec.VerdictPass: 2}

// runContext notes the facts that make the comparison weaker: a different
// tool, target, profile, golden manifest, model card, set of models or seed.
func (d *differ) runContext() {
	b, a := d.before, d.after
	note := func(subject, old, cur, why string) {
		if old != cur {
			d.add(Change{Effect: Note, Kind: ChangeContext, Subject: subject, Old: orAbsent(old), New: orAbsent(cur), Message: why})
		}
	}
	note("tool version", b.Tool.Version, a.Tool.Version, "another build of the tool may check differently")
	note("target", b.Target, a.Target, "the runs checked different endpoints")
	note("profile sha256", b.Profile.SHA256, a.Profile.SHA256,
		fmt.Sprintf("the runs used different profiles (%s, %s): models, budgets or levels may differ", b.Profile.Name, a.Profile.Name))
	note("goldens sha256", b.Goldens.SHA256, a.Goldens.SHA256, "the runs compared against different golden manifests")
	note("model card sha256", modelCardSHA(b), modelCardSHA(a), "the runs read different model cards: budgets may differ")
	if bm, am := reportModels(b), reportModels(a); !slices.Equal(bm, am) {
		d.add(Change{Effect: Note, Kind: ChangeContext, Subject: "models", Old: strings.Join(bm, " "), New: strings.Join(am, " "),
			Message: "the runs checked different models: what only one report has is not compared"})
	}
	note("seed", b.Seed, a.Seed, "the runs drew different inputs")
}

func orAbsent(s string) string { return orDefault(s, absent) }

func modelCardSHA(r *conformance.Report) string {
	if r.ModelCard == nil {
		return ""
	}
	return r.ModelCard.SHA256
}

// reportModels lists, sorted, the served models (model@version) any case
// or performance scenario of r compared.
func reportModels(r *conformance.Report) []string {
	var out []string
	for _, c := range r.Checks {
		for _, ce := range c.Evidence.Cases {
			out = append(out, modelLabel(ce.Model, ce.Version))
		}
		for _, p := range c.Evidence.Performance {
			out = append(out, modelLabel(p.Model, p.Version))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// verdicts compares the overall verdict and the verdict of every level
// either report requested.
func (d *differ) verdicts() {
	b, a := d.before, d.after
	if b.Verdict != a.Verdict {
		d.add(Change{Effect: rankEffect(verdictRank[b.Verdict], verdictRank[a.Verdict]), Kind: ChangeVerdict,
			Old: string(b.Verdict), New: string(a.Verdict)})
	}
	for _, l := range spec.Levels {
		was, is := slices.Contains(b.RequestedLevels, l), slices.Contains(a.RequestedLevels, l)
		c := Change{Kind: ChangeLevel, Subject: string(l), Old: string(b.Levels[l]), New: string(a.Levels[l])}
		switch {
		case was && is:
			if b.Levels[l] == a.Levels[l] {
				continue
			}
			c.Effect = rankEffect(verdictRank[b.Levels[l]], verdictRank[a.Levels[l]])
		case was:
			c.Effect, c.New, c.Message = Regression, notRequested, "the new run did not request the level"
		case is:
			c.Effect, c.Old, c.Message = Note, notRequested, "only the new run requested the level"
		default:
			continue
		}
		d.add(c)
	}
}

// rankEffect is the effect of a move from rank old to rank cur (higher
// is better): a regression, an improvement, or a note when the ranks are
// equal.
func rankEffect(old, cur int) Effect {
	switch {
	case cur < old:
		return Regression
	case cur > old:
		return Improvement
	}
	return Note
}

// claims compares, per level, whether the reports support a claim: a
// level claimable before and not now (or no longer requested) is a
// regression.
func (d *differ) claims() {
	find := func(r *conformance.Report, l spec.Level) *conformance.LevelClaim {
		i := slices.IndexFunc(r.Claim, func(c conformance.LevelClaim) bool { return c.Level == l })
		if i < 0 {
			return nil
		}
		return &r.Claim[i]
	}
	for _, l := range spec.Levels {
		b, a := find(d.before, l), find(d.after, l)
		was, is := b != nil && b.Claimable, a != nil && a.Claimable
		switch {
		case was && !is:
			c := Change{Effect: Regression, Kind: ChangeClaim, Subject: string(l), Old: claimState(b), New: claimState(a)}
			if a != nil {
				c.Message = firstReason(a.Reasons)
			}
			d.add(c)
		case !was && is:
			d.add(Change{Effect: Improvement, Kind: ChangeClaim, Subject: string(l), Old: claimState(b), New: claimState(a)})
		}
	}
}

func claimState(c *conformance.LevelClaim) string {
	switch {
	case c == nil:
		return notRequested
	case c.Claimable:
		return "claimable"
	}
	return "not claimable"
}

// firstReason is the first reason, with how many more there are.
func firstReason(rs []string) string {
	if len(rs) == 0 {
		return ""
	}
	if len(rs) == 1 {
		return rs[0]
	}
	return fmt.Sprintf("%s (and %s)", rs[0], plural(len(rs)-1, "more reason", "more reasons"))
}
