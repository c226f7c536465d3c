package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // unreachable target, too many errors, missing deliveries
	exitUsage = 2
)

// Goals of the compare mode, from the project issue: Stagebus/bare.
const (
	rpsRatioGoal = 0.6 // at least
	p99RatioGoal = 2.0 // at most
)

// settleTime is how long the delivered counter may take to catch up after the run.
const settleTime = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the command-line flags.
type options struct {
	url, secret, metrics, topic string
	subscription                string
	conns, repos, rounds        int
	duration, warmup            time.Duration
	json                        bool
	serveBare, compare          bool
	listen, bareListen          string
	settle                      time.Duration // not a flag: settleTime, shorter in tests
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("webhookload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{settle: settleTime}
	fs.StringVar(&o.url, "url", "", "webhook endpoint to load, e.g. http://127.0.0.1:7007/api/events/http/github")
	fs.StringVar(&o.secret, "secret", "", "webhook secret signing the bodies (default $"+secretEnv+")")
	fs.IntVar(&o.conns, "conns", 64, "concurrent keep-alive HTTP/1.1 connections, one request in flight on each")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "time before the measurement, not counted in rates and latencies")
	fs.IntVar(&o.repos, "repos", 64, "distinct repositories the pushes come from")
	fs.StringVar(&o.metrics, "metrics", "", "the target's Prometheus /metrics URL: check that every 202 reached the -subscription subscriber")
	fs.StringVar(&o.subscription, "subscription", "", "subscription label of the "+deliveredMetric+" series checked with -metrics (required with it): a subscriber of -expect-topic")
	fs.StringVar(&o.topic, "expect-topic", "github.push", "topic label of the "+deliveredMetric+" series checked with -metrics")
	fs.BoolVar(&o.json, "json", false, "print the result as one JSON object")
	fs.BoolVar(&o.serveBare, "serve-bare", false, "run the bare baseline server instead of generating load")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "address of the -serve-bare server")
	fs.BoolVar(&o.compare, "compare", false, "load a bare server started in a child process, then -url, and print the ratios")
	fs.StringVar(&o.bareListen, "bare-listen", "127.0.0.1:0", "address of the bare server of -compare")
	fs.IntVar(&o.rounds, "rounds", 1, "with -compare: alternate this many bare and -url runs and judge the median ratios")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.secret == "" {
		o.secret = os.Getenv(secretEnv)
	}
	var errs []error
	if o.secret == "" {
		errs = append(errs, errors.New("no secret: set -secret or $"+secretEnv))
	}
	if o.metrics != "" && o.subscription == "" {
		errs = append(errs, errors.New("-metrics needs -subscription: the subscription whose deliveries of -expect-topic are counted"))
	}
	if o.metrics == "" && o.subscription != "" {
		errs = append(errs, errors.New("-subscription is only used with -metrics"))
	}
	if o.rounds < 1 {
		errs = append(errs, errors.New("-rounds must be at least 1"))
	}
	if o.rounds > 1 && !o.compare {
		errs = append(errs, errors.New("-rounds is only used with -compare"))
	}
	if o.serveBare && o.compare {
		errs = append(errs, errors.New("-serve-bare and -compare exclude each other"))
	}
	if !o.serveBare {
		if o.url == "" {
			errs = append(errs, errors.New("-url is required"))
		}
		if o.conns < 1 {
			errs = append(errs, errors.New("-conns must be at least 1"))
		}
		if o.repos < 1 {
			errs = append(errs, errors.New("-repos must be at least 1"))
		}
		if o.duration <= 0 {
			errs = append(errs, errors.New("-duration must be positive"))
		}
		if o.warmup < 0 {
			errs = append(errs, errors.New("-warmup must not be negative"))
		}
	}
	return o, errors.Join(errs...)
}

// run is the program: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "webhookload: %v\n", err)
		return exitUsage
	}
	if o.serveBare {
		if err := serveBare(ctx, o.listen, o.secret, stdout); err != nil {
			fmt.Fprintf(stderr, "webhookload: %v\n", err)
			return exitFail
		}
		return exitOK
	}
	if o.compare {
		return runCompare(ctx, o, stdout, stderr)
	}
	r, err := measure(ctx, o, o.url, o.metrics)
	if err != nil {
		fmt.Fprintf(stderr, "webhookload: %v\n", err)
		return exitFail
	}
	if o.json {
		writeJSONTo(stdout, r)
	} else {
		printResult(stdout, r)
	}
	return report(stderr, "", r)
}

// measure runs the load against target and, when metricsURL is set, counts the deliveries.
func measure(ctx context.Context, o *options, target, metricsURL string) (*result, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	var before int64
	if metricsURL != "" {
		var err error
		// Before any request, so that the warm-up's deliveries are counted too.
		if before, err = scrapeDelivered(ctx, client, metricsURL, o.topic, o.subscription); err != nil {
			return nil, err
		}
	}
	r, err := runLoad(ctx, loadConfig{
		URL: target, Secret: o.secret, Conns: o.conns, Duration: o.duration, Warmup: o.warmup, Repos: o.repos,
	})
	if err != nil {
		return nil, err
	}
	if metricsURL != "" {
		delivered, err := waitDelivered(ctx, client, metricsURL, o.topic, o.subscription, before, r.accepted(), o.settle)
		if err != nil {
			return nil, err
		}
		r.Delivered = &delivered
	}
	r.check()
	return r, nil
}

// comparison is the result of -compare.
type comparison struct {
	Bare         *result `json:"bare"`     // the last round's
	Stagebus     *result `json:"stagebus"` // the last round's
	Rounds       []round `json:"rounds"`
	RPSRatio     float64 `json:"rps_ratio"` // Stagebus/bare, 2xx answers per second: the rounds' median
	RPSRatioGoal float64 `json:"rps_ratio_goal"`
	RPSRatioMet  bool    `json:"rps_ratio_met"`
	P99Ratio     float64 `json:"p99_ratio"` // Stagebus/bare: the rounds' median
	P99RatioGoal float64 `json:"p99_ratio_goal"`
	P99RatioMet  bool    `json:"p99_ratio_met"`
	OK           bool    `json:"ok"` // no problem in any run; the goals do not count
}

// round is one bare run and the -url run right after it. On a machine whose speed drifts
// (a shared VM), ratios of runs close in time are steadier than one long run of each.
type round struct {
	BareRPS     float64 `json:"bare_rps"`
	StagebusRPS float64 `json:"stagebus_rps"`
	RPSRatio    float64 `json:"rps_ratio"`
	P99Ratio    float64 `json:"p99_ratio"`
}

func runCompare(ctx context.Context, o *options, stdout, stderr io.Writer) int {
	c := comparison{RPSRatioGoal: rpsRatioGoal, P99RatioGoal: p99RatioGoal, OK: true}
	code := exitOK
	for range o.rounds {
		bare, sb, err := compareRound(ctx, o, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "webhookload: %v\n", err)
			return exitFail
		}
		c.Bare, c.Stagebus = bare, sb
		c.OK = c.OK && len(bare.Problems) == 0 && len(sb.Problems) == 0
		code = max(code, report(stderr, "bare server: ", bare), report(stderr, "", sb))
		r := round{BareRPS: bare.RPS2xx, StagebusRPS: sb.RPS2xx}
		if bare.RPS2xx > 0 {
			r.RPSRatio = sb.RPS2xx / bare.RPS2xx
		}
		if bare.P99 > 0 {
			r.P99Ratio = float64(sb.P99) / float64(bare.P99)
		}
		c.Rounds = append(c.Rounds, r)
	}
	c.RPSRatio = median(c.Rounds, func(r round) float64 { return r.RPSRatio })
	c.P99Ratio = median(c.Rounds, func(r round) float64 { return r.P99Ratio })
	// A goal is met only by runs without problems: 404s can be fast.
	c.RPSRatioMet = c.OK && c.RPSRatio >= rpsRatioGoal
	c.P99RatioMet = c.OK && c.P99Ratio > 0 && c.P99Ratio <= p99RatioGoal
	if o.json {
		writeJSONTo(stdout, c)
	} else {
		printComparison(stdout, &c)
	}
	return code
}

// compareRound loads a bare server started in a child process, stops it so that it does not
// compete for the CPU, then loads -url with the same flags.
func compareRound(ctx context.Context, o *options, stderr io.Writer) (bare, sb *result, err error) {
	child, err := startBareChild(ctx, o.bareListen, o.secret, stderr)
	if err != nil {
		return nil, nil, err
	}
	defer child.stop()
	if bare, err = measure(ctx, o, child.URL, ""); err != nil {
		return nil, nil, fmt.Errorf("bare server: %w", err)
	}
	child.stop()
	if sb, err = measure(ctx, o, o.url, o.metrics); err != nil {
		return nil, nil, err
	}
	return bare, sb, nil
}

// median returns the median of f over the rounds (the mean of the middle two for an even
// count).
func median(rounds []round, f func(round) float64) float64 {
	v := make([]float64, len(rounds))
	for i, r := range rounds {
		v[i] = f(r)
	}
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

// report writes r's problems to stderr and returns the exit code they call for.
func report(stderr io.Writer, prefix string, r *result) int {
	for _, p := range r.Problems {
		fmt.Fprintf(stderr, "webhookload: FAIL: %s%s\n", prefix, p)
	}
	if len(r.Problems) > 0 {
		return exitFail
	}
	return exitOK
}

func writeJSONTo(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
