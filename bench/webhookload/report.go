package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// MarshalJSON writes r with its durations in seconds and milliseconds, and "ok".
func (r *result) MarshalJSON() ([]byte, error) {
	type plain result
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return json.Marshal(struct {
		*plain
		DurationS     float64 `json:"duration_s"`
		WarmupS       float64 `json:"warmup_s"`
		ElapsedS      float64 `json:"elapsed_s"`
		P50Ms         float64 `json:"p50_ms"`
		P99Ms         float64 `json:"p99_ms"`
		MaxMs         float64 `json:"max_ms"`
		AcceptedTotal int64   `json:"accepted_total"` // 202 answers, warm-up included
		OK            bool    `json:"ok"`
	}{
		plain:     (*plain)(r),
		DurationS: r.Duration.Seconds(), WarmupS: r.Warmup.Seconds(), ElapsedS: r.Elapsed.Seconds(),
		P50Ms: ms(r.P50), P99Ms: ms(r.P99), MaxMs: ms(r.Max),
		AcceptedTotal: r.accepted(),
		OK:            len(r.Problems) == 0,
	})
}

// fmtDur rounds d to three significant digits.
func fmtDur(d time.Duration) string {
	unit := time.Duration(1)
	for d/unit >= 1000 {
		unit *= 10
	}
	return d.Round(unit).String()
}

func printResult(w io.Writer, r *result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	m := r.Measured
	fmt.Fprintf(tw, "target\t%s\n", r.Target)
	fmt.Fprintf(tw, "connections\t%d (%d opened)\n", r.Conns, r.Connections)
	fmt.Fprintf(tw, "duration\t%s after a %s warm-up (measured over %s)\n", r.Duration, r.Warmup, fmtDur(r.Elapsed))
	fmt.Fprintf(tw, "requests\t%d\n", m.Requests)
	fmt.Fprintf(tw, "  202 accepted\t%d\n", m.Accepted)
	fmt.Fprintf(tw, "  200 duplicate\t%d\n", m.Duplicate)
	fmt.Fprintf(tw, "  errors\t%d", m.Errors)
	if m.NoResponse > 0 {
		fmt.Fprintf(tw, " (%d without an answer)", m.NoResponse)
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "req/s (2xx)\t%.0f\n", r.RPS2xx)
	fmt.Fprintf(tw, "req/s (all)\t%.0f\n", r.RPSAll)
	fmt.Fprintf(tw, "latency p50\t%s\n", fmtDur(r.P50))
	fmt.Fprintf(tw, "latency p99\t%s\n", fmtDur(r.P99))
	fmt.Fprintf(tw, "latency max\t%s\n", fmtDur(r.Max))
	wu := r.WarmupCount
	fmt.Fprintf(tw, "warm-up\t%d requests, %d accepted, %d errors\n", wu.Requests, wu.Accepted, wu.Errors)
	if r.Delivered != nil {
		fmt.Fprintf(tw, "delivered\t%d of %d accepted (warm-up included)\n", *r.Delivered, r.accepted())
	}
	_ = tw.Flush()
	if len(r.ErrorSamples) > 0 {
		fmt.Fprintln(w, "error samples:")
		for _, s := range r.ErrorSamples {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
}

func printComparison(w io.Writer, c *comparison) {
	fmt.Fprintln(w, "== bare net/http server (child process)")
	printResult(w, c.Bare)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "== stagebus")
	printResult(w, c.Stagebus)
	fmt.Fprintln(w)
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	if len(c.Rounds) > 1 {
		fmt.Fprintf(w, "(the last of %d rounds above)\n\n", len(c.Rounds))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "round\tbare req/s\tstagebus req/s\treq/s ratio\tp99 ratio\n")
		for i, r := range c.Rounds {
			fmt.Fprintf(tw, "%d\t%.0f\t%.0f\t%.2f\t%.2f\n", i+1, r.BareRPS, r.StagebusRPS, r.RPSRatio, r.P99Ratio)
		}
		_ = tw.Flush()
		fmt.Fprintf(w, "\nmedian of the rounds: req/s ratio %.2f (goal ≥ %.1f %s), p99 ratio %.2f (goal ≤ %.0f %s)\n",
			c.RPSRatio, c.RPSRatioGoal, met(c.RPSRatioMet), c.P99Ratio, c.P99RatioGoal, met(c.P99RatioMet))
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\tbare\tstagebus\tstagebus/bare\tgoal\n")
	fmt.Fprintf(tw, "req/s (2xx)\t%.0f\t%.0f\t%.2f\t≥ %.1f %s\n",
		c.Bare.RPS2xx, c.Stagebus.RPS2xx, c.RPSRatio, c.RPSRatioGoal, met(c.RPSRatioMet))
	fmt.Fprintf(tw, "latency p50\t%s\t%s\t%.2f\t\n",
		fmtDur(c.Bare.P50), fmtDur(c.Stagebus.P50), ratio(c.Stagebus.P50, c.Bare.P50))
	fmt.Fprintf(tw, "latency p99\t%s\t%s\t%.2f\t≤ %.0f %s\n",
		fmtDur(c.Bare.P99), fmtDur(c.Stagebus.P99), c.P99Ratio, c.P99RatioGoal, met(c.P99RatioMet))
	_ = tw.Flush()
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
