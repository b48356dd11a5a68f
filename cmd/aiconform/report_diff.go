package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aiconform/aiconform/reports"
)

func init() { registerReportCommand(newReportDiffCmd) }

// reportDiffOptions are the inputs of `aiconform report diff`.
type reportDiffOptions struct {
	// Old and New are the report.json files compared: the baseline and
	// the run under judgement.
	Old, New string
	// Tolerances are the latency and numeric tolerances.
	Tolerances reports.DiffOptions
	// JSON writes the comparison as JSON instead of lines.
	JSON bool
}

func newReportDiffCmd(s Streams) *cobra.Command {
	o := reportDiffOptions{Tolerances: reports.DefaultDiffOptions()}
	cmd := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "Compare two reports and fail on a regression",
		Long: `diff compares two report.json files, OLD (the baseline) and NEW, and lists what changed:
the regressions, then the improvements, then the notes, and a last line with the counts.

A regression is: the overall verdict or a requested level's verdict that fell (or a level
OLD requested and NEW does not); a level that was claimable and is not; a check that passed
and now fails, errs, is skipped or is missing (a SHOULD check too: a new warning fails the
gate); a performance scenario that passed on a model and does not; a percentile of a
scenario's latency (p50, p90, p95, p99, p99.9) or its judged latency that grew by more than
--latency-tolerance, or a throughput or cache-audit ratio that fell by more; a golden or
live case that newly fails; an output whose worst share of its allowance grew by more than
--numeric-tolerance and by more than --numeric-floor of the allowance. Improvements and
additions never fail the gate; facts that make the comparison weaker (another target,
profile, goldens, model card, models or seed) are notes. See spec/v1/report.md,
"Comparing reports".

Tolerances are written 10% or 0.1; a bare number is a fraction at most 1.

Exit status: 0 no regression, 1 a regression, 2 a report unreadable or invalid, or a bad
tolerance.`,
		Example: `  aiconform report diff baseline/report.json out/report.json
  aiconform report diff --latency-tolerance 20% --json baseline/report.json out/report.json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Old, o.New = args[0], args[1]
			return runReportDiff(o, s)
		},
	}
	f := cmd.Flags()
	f.Var(toleranceFlag{&o.Tolerances.LatencyTolerance}, "latency-tolerance", "how much a latency may grow, or a throughput or the cache audit's ratio fall, before it is a regression")
	f.Var(toleranceFlag{&o.Tolerances.NumericTolerance}, "numeric-tolerance", "how much an output's worst share of its allowance may grow, relative to the old share, before it is a regression")
	f.Var(toleranceFlag{&o.Tolerances.NumericFloor}, "numeric-floor", "how much an output's worst share of its allowance may grow in absolute terms (a share of 1 is the whole allowance) before it is a regression")
	f.BoolVar(&o.JSON, "json", false, "write the comparison as JSON")
	return cmd
}

// runReportDiff reads both reports, compares them and writes the
// comparison; a regression is exit 1.
func runReportDiff(o reportDiffOptions, s Streams) error {
	old, err := reports.Read(o.Old)
	if err != nil {
		return usageError(fmt.Errorf("report diff: OLD: %w", err))
	}
	cur, err := reports.Read(o.New)
	if err != nil {
		return usageError(fmt.Errorf("report diff: NEW: %w", err))
	}
	c, err := reports.Compare(old, cur, o.Tolerances)
	if err != nil {
		return usageError(fmt.Errorf("report diff %s %s: %w", o.Old, o.New, err))
	}
	c.Old, c.New = o.Old, o.New
	if o.JSON {
		b, err := reports.DiffJSON(c)
		if err != nil {
			return err
		}
		if _, err := s.Out.Write(b); err != nil {
			return fmt.Errorf("report diff: %w", err)
		}
	} else if err := reports.WriteDiff(s.Out, c); err != nil {
		return fmt.Errorf("report diff: %w", err)
	}
	if c.Regressed() {
		return exitCode(ExitFail, nil)
	}
	return nil
}

// toleranceFlag is a relative tolerance flag: "10%" or "0.1".
type toleranceFlag struct{ p *float64 }

func (f toleranceFlag) String() string {
	if f.p == nil {
		return ""
	}
	return strconv.FormatFloat(*f.p*100, 'g', -1, 64) + "%"
}

func (f toleranceFlag) Type() string { return "tolerance" }

func (f toleranceFlag) Set(s string) error {
	v, err := parseTolerance(s)
	if err != nil {
		return err
	}
	*f.p = v
	return nil
}

// parseTolerance reads a tolerance written as a percentage ("10%") or a
// fraction at most 1 ("0.1"): a bare 10 is refused rather than guessed.
func parseTolerance(s string) (float64, error) {
	t := strings.TrimSpace(s)
	pct := strings.HasSuffix(t, "%")
	t = strings.TrimSuffix(t, "%")
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, fmt.Errorf("tolerance %q is not a percentage such as 10%% or a fraction such as 0.1", s)
	}
	if pct {
		return v / 100, nil
	}
	if v > 1 {
		return 0, fmt.Errorf("tolerance %q is more than 1: write a percentage such as %s%% or a fraction at most 1", s, t)
	}
	return v, nil
}
