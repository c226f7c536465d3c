package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestMain lets -compare re-execute the test binary as the bare server child.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-serve-bare" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestSign(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, secret, body, want string
	}{
		{
			// https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
			name: "GitHub's published vector", secret: "It's a Secret to Everybody", body: "Hello, World!",
			want: "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
		},
		{
			name: "empty body", secret: "key", body: "",
			want: "sha256=5d5d139563c95b5967b9bd9a8c9b233a9dedb45072794cd232dc1b74832607d0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, sign(tt.secret, []byte(tt.body)))
			require.True(t, validSignature(tt.secret, tt.want, []byte(tt.body)))
		})
	}
}

func TestValidSignature(t *testing.T) {
	t.Parallel()
	const secret = "It's a Secret to Everybody"
	body := []byte("Hello, World!")
	good := "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	tests := []struct {
		name, header string
		want         bool
	}{
		{"good", good, true},
		{"empty", "", false},
		{"no prefix", strings.TrimPrefix(good, "sha256="), false},
		{"sha1 prefix", "sha1=" + strings.TrimPrefix(good, "sha256="), false},
		{"not hex", "sha256=zz" + good[9:], false},
		{"truncated", good[:len(good)-2], false},
		{"one digit off", good[:len(good)-1] + "8", false},
		{"other secret", sign("other", body), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, validSignature(secret, tt.header, body))
		})
	}
}

func TestPushBodies(t *testing.T) {
	t.Parallel()
	ds, err := buildDeliveries(64, "s")
	require.NoError(t, err)
	names := map[string]bool{}
	for i, d := range ds {
		require.GreaterOrEqual(t, len(d.body), 2048, "repository %d", i)
		require.LessOrEqual(t, len(d.body), 3072, "repository %d", i)
		require.Equal(t, sign("s", d.body), d.signature)
		var p struct {
			Ref        string `json:"ref"`
			After      string `json:"after"`
			Repository struct {
				ID            int64  `json:"id"`
				FullName      string `json:"full_name"`
				HTMLURL       string `json:"html_url"`
				DefaultBranch string `json:"default_branch"`
				Owner         struct {
					Login string `json:"login"`
				} `json:"owner"`
			} `json:"repository"`
			Pusher  map[string]any `json:"pusher"`
			Sender  map[string]any `json:"sender"`
			Commits []struct {
				ID       string   `json:"id"`
				Message  string   `json:"message"`
				Added    []string `json:"added"`
				Removed  []string `json:"removed"`
				Modified []string `json:"modified"`
				Author   struct {
					Name  string `json:"name"`
					Email string `json:"email"`
				} `json:"author"`
			} `json:"commits"`
			HeadCommit struct {
				ID string `json:"id"`
			} `json:"head_commit"`
		}
		require.NoError(t, json.Unmarshal(d.body, &p), "repository %d", i)
		require.Equal(t, "refs/heads/main", p.Ref)
		require.Equal(t, d.repo, p.Repository.FullName)
		require.Equal(t, "https://github.com/"+d.repo, p.Repository.HTMLURL)
		require.Equal(t, "main", p.Repository.DefaultBranch)
		require.Equal(t, owner, p.Repository.Owner.Login)
		require.Equal(t, d.repoID, p.Repository.ID)
		require.Len(t, p.Commits, 1+i%2)
		require.Equal(t, p.After, p.HeadCommit.ID)
		require.Equal(t, p.After, p.Commits[len(p.Commits)-1].ID)
		require.Equal(t, []string{"docs/adr/001-ownership.md"}, p.Commits[0].Added)
		require.Equal(t, []string{"catalog-info.yaml"}, p.Commits[0].Modified)
		require.NotNil(t, p.Commits[0].Removed)
		require.NotEmpty(t, p.Commits[0].Message)
		require.Equal(t, "Mona Lisa Octocat", p.Commits[0].Author.Name)
		require.NotEmpty(t, p.Commits[0].Author.Email)
		require.NotEmpty(t, p.Pusher["name"])
		require.NotEmpty(t, p.Sender["login"])
		names[p.Repository.FullName] = true
	}
	require.Len(t, names, 64)
}

func TestHistogramPrecision(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	var h histogram
	var exact []time.Duration
	for range 100_000 {
		// Log-uniform from 1µs to 10s.
		d := time.Duration(1e3 * pow10(rng.Float64()*7))
		h.record(d)
		exact = append(exact, d)
	}
	h.record(3) // below the exact range
	exact = append(exact, 3)
	slices.Sort(exact)
	for _, q := range []float64{0.001, 0.5, 0.9, 0.99, 0.999, 1} {
		want := exact[int(float64(len(exact))*q+0.999999)-1]
		got := h.quantile(q)
		require.InEpsilon(t, float64(want), float64(got), 0.01, "q=%v", q)
	}
	require.Equal(t, exact[len(exact)-1], h.max)
	require.Equal(t, time.Duration(3), h.quantile(0.000001))

	var merged histogram
	merged.merge(&h)
	merged.merge(&h)
	require.Equal(t, 2*h.n, merged.n)
	require.Equal(t, h.quantile(0.5), merged.quantile(0.5))

	var empty histogram
	require.Zero(t, empty.quantile(0.99))
}

func pow10(x float64) float64 {
	r := 1.0
	for ; x >= 1; x-- {
		r *= 10
	}
	// 10^x for x in [0, 1) through e^(x ln 10), precise enough for test data.
	term, sum := 1.0, 1.0
	for k := 1; k < 30; k++ {
		term *= x * 2.302585092994046 / float64(k)
		sum += term
	}
	return r * sum
}

func TestBucketsAreMonotonic(t *testing.T) {
	t.Parallel()
	prev := -1
	for _, v := range []int64{0, 1, 255, 256, 257, 511, 512, 1 << 20, 1<<20 + 1, 1 << 40, 1<<63 - 1} {
		b := bucketOf(v)
		require.GreaterOrEqual(t, b, prev, "v=%d", v)
		require.Less(t, b, histBuckets)
		prev = b
		mid := bucketMid(b)
		require.InEpsilon(t, float64(max(v, 1)), float64(max(mid, 1)), 0.005, "v=%d", v)
	}
}

// countingBare is the bare handler counting the 202 answers it sends.
func countingBare(secret string, accepted *atomic.Int64) http.Handler {
	h := bareHandler(secret)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.status == http.StatusAccepted {
			accepted.Add(1)
		}
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(s int) {
	r.status = s
	r.ResponseWriter.WriteHeader(s)
}

func TestRunLoadAgainstBare(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	var deliveries sync.Map
	h := countingBare("s3cret", &served)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every delivery id is new, and every request carries GitHub's headers.
		_, dup := deliveries.LoadOrStore(r.Header.Get("X-GitHub-Delivery"), true)
		if dup || r.Header.Get("X-GitHub-Event") != "push" || r.Header.Get("Content-Type") != "application/json" ||
			r.Header.Get("X-GitHub-Hook-ID") == "" || !strings.HasPrefix(r.UserAgent(), "GitHub-Hookshot/") {
			http.Error(w, "bad headers", http.StatusBadRequest)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()

	r, err := runLoad(t.Context(), loadConfig{
		URL: srv.URL + githubPath, Secret: "s3cret", Conns: 8, Duration: time.Second, Warmup: 100 * time.Millisecond, Repos: 64,
	})
	require.NoError(t, err)
	r.check()
	require.Empty(t, r.Problems)
	require.Positive(t, r.Measured.Requests)
	require.Positive(t, r.WarmupCount.Requests)
	for _, c := range []counts{r.Measured, r.WarmupCount} {
		require.Equal(t, c.Requests, c.Accepted)
		require.Zero(t, c.Errors)
		require.Zero(t, c.Duplicate)
		require.Equal(t, map[int]int64{http.StatusAccepted: c.Requests}, c.Statuses)
	}
	require.Equal(t, served.Load(), r.accepted(), "the server's count")
	require.LessOrEqual(t, r.Connections, int64(8), "keep-alive connections reused")
	require.InDelta(t, time.Second, r.Elapsed, float64(500*time.Millisecond))
	require.InEpsilon(t, float64(r.Measured.Requests)/r.Elapsed.Seconds(), r.RPS2xx, 1e-9)
	require.Equal(t, r.RPS2xx, r.RPSAll)
	require.Positive(t, r.P50)
	require.LessOrEqual(t, r.P50, r.P99)
	require.LessOrEqual(t, r.P99, r.Max)
	require.Empty(t, r.ErrorSamples)
}

func TestRunLoadWrongSecret(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(bareHandler("right"))
	defer srv.Close()
	r, err := runLoad(t.Context(), loadConfig{
		URL: srv.URL + githubPath, Secret: "wrong", Conns: 2, Duration: 300 * time.Millisecond, Repos: 4,
	})
	require.NoError(t, err)
	require.Positive(t, r.Measured.Requests)
	require.Zero(t, r.Measured.Accepted)
	require.Equal(t, r.Measured.Requests, r.Measured.Errors)
	require.Zero(t, r.Measured.NoResponse)
	require.Equal(t, map[int]int64{http.StatusUnauthorized: r.Measured.Requests}, r.Measured.Statuses)
	require.Zero(t, r.RPS2xx)
	require.Positive(t, r.RPSAll)
	require.Equal(t, []string{`401 {"error":"invalid X-Hub-Signature-256"}`}, r.ErrorSamples)
	r.check()
	require.Len(t, r.Problems, 1)
	require.Contains(t, r.Problems[0], "more than 1%")
}

func TestRunLoadUnreachable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	target := srv.URL + githubPath
	srv.Close()
	_, err := runLoad(t.Context(), loadConfig{URL: target, Secret: "s", Conns: 1, Duration: time.Second, Repos: 1})
	require.ErrorIs(t, err, errUnreachable)
}

// exposition is a small Prometheus text exposition with a delivered counter of n for the
// recorder's subscription of github.push, and series that must not be counted: other
// subscriptions of github.push, the recorder's other topics.
func exposition(n int64) string {
	return fmt.Sprintf(`# HELP stagebus_events_delivered_total Events a subscription's handler handled successfully.
# TYPE stagebus_events_delivered_total counter
stagebus_events_delivered_total{subscription="recorder",topic="github.push"} %d
stagebus_events_delivered_total{subscription="catalog.github-provider.acme",topic="github.push"} 99999
stagebus_events_delivered_total{subscription="recorder",topic="github"} 77777
# HELP stagebus_events_published_total Events published, by topic.
# TYPE stagebus_events_published_total counter
stagebus_events_published_total{topic="github"} 55555
stagebus_events_published_total{topic="github.push"} 55555
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 12
`, n)
}

func TestScrapeDelivered(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		status     int
		want       int64
		wantErr    bool
	}{
		{name: "one series", body: exposition(1234), want: 1234},
		{name: "no such series", body: "# TYPE go_goroutines gauge\ngo_goroutines 12\n", want: 0},
		{
			name: "series summed",
			body: "stagebus_events_delivered_total{topic=\"github.push\",subscription=\"recorder\",instance=\"a\"} 1e+06\n" +
				"stagebus_events_delivered_total{topic=\"github.push\",subscription=\"recorder\",instance=\"b\"} 5\n",
			want: 1_000_005,
		},
		{name: "malformed", body: "stagebus_events_delivered_total{topic=\"github.push\" 3\n", wantErr: true},
		{name: "server error", body: "oops", status: http.StatusInternalServerError, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain; version=0.0.4")
				w.WriteHeader(max(tt.status, http.StatusOK))
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			got, err := scrapeDelivered(t.Context(), srv.Client(), srv.URL+"/metrics", "github.push", "recorder")
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// fakeStagebus accepts signed pushes like the bare server and exposes a delivered counter
// that starts at 1000 and grows by one per accepted push, or per second accepted push when
// lossy.
func fakeStagebus(t *testing.T, secret string, lossy bool) *httptest.Server {
	var accepted atomic.Int64
	mux := http.NewServeMux()
	mux.Handle("POST "+githubPath, countingBare(secret, &accepted))
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		n := accepted.Load()
		if lossy {
			n /= 2
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte(exposition(1000 + n)))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestMeasureWithMetrics(t *testing.T) {
	t.Parallel()
	for _, lossy := range []bool{false, true} {
		t.Run(fmt.Sprintf("lossy=%v", lossy), func(t *testing.T) {
			t.Parallel()
			srv := fakeStagebus(t, "s", lossy)
			o := &options{
				secret: "s", topic: "github.push", subscription: "recorder", conns: 4, repos: 64,
				duration: 300 * time.Millisecond, warmup: 100 * time.Millisecond, settle: 300 * time.Millisecond,
			}
			r, err := measure(t.Context(), o, srv.URL+githubPath, srv.URL+"/metrics")
			require.NoError(t, err)
			require.NotNil(t, r.Delivered)
			require.Positive(t, r.WarmupCount.Accepted)
			if !lossy {
				require.Equal(t, r.accepted(), *r.Delivered)
				require.Empty(t, r.Problems)
				return
			}
			require.Equal(t, r.accepted()/2, *r.Delivered)
			require.Equal(t, []string{fmt.Sprintf("only %d of %d accepted deliveries reached the subscriber", r.accepted()/2, r.accepted())}, r.Problems)
		})
	}
}

func TestRunExitCodes(t *testing.T) {
	t.Setenv(secretEnv, "")
	srv := fakeStagebus(t, "s", false)
	tests := []struct {
		name string
		args []string
		want int
		out  string // in stdout
		err  string // in stderr
	}{
		{name: "no url", args: []string{"-secret", "s"}, want: exitUsage, err: "-url is required"},
		{name: "no secret", args: []string{"-url", srv.URL}, want: exitUsage, err: "no secret"},
		{name: "bad flag", args: []string{"-nope"}, want: exitUsage},
		{name: "help", args: []string{"-h"}, want: exitOK, err: "-subscription"},
		{
			name: "metrics without subscription", want: exitUsage, err: "webhookload: -metrics needs -subscription: the subscription whose deliveries of -expect-topic are counted\n",
			args: []string{"-url", srv.URL + githubPath, "-metrics", srv.URL + "/metrics", "-secret", "s"},
		},
		{
			name: "subscription without metrics", want: exitUsage, err: "-subscription is only used with -metrics",
			args: []string{"-url", srv.URL + githubPath, "-subscription", "recorder", "-secret", "s"},
		},
		{
			name: "no rounds", want: exitUsage, err: "-rounds must be at least 1",
			args: []string{"-compare", "-url", srv.URL + githubPath, "-rounds", "0", "-secret", "s"},
		},
		{
			name: "rounds without compare", want: exitUsage, err: "-rounds is only used with -compare",
			args: []string{"-url", srv.URL + githubPath, "-rounds", "3", "-secret", "s"},
		},
		{
			name: "unreachable", want: exitFail, err: "target unreachable",
			args: []string{"-url", "http://127.0.0.1:1" + githubPath, "-secret", "s"},
		},
		{
			name: "wrong secret", want: exitFail, out: "error samples:", err: "FAIL",
			args: []string{"-url", srv.URL + githubPath, "-secret", "x", "-conns", "2", "-duration", "100ms", "-warmup", "0s"},
		},
		{
			name: "ok with metrics", want: exitOK, out: "delivered",
			args: []string{
				"-url", srv.URL + githubPath, "-metrics", srv.URL + "/metrics", "-subscription", "recorder", "-secret", "s",
				"-conns", "2", "-duration", "200ms", "-warmup", "50ms",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, &stdout, &stderr)
			require.Equal(t, tt.want, code, "stdout:\n%s\nstderr:\n%s", &stdout, &stderr)
			require.Contains(t, stdout.String(), tt.out)
			require.Contains(t, stderr.String(), tt.err)
		})
	}
}

// TestDeliveredSeriesFlags: -expect-topic defaults to github.push, the topic a push's
// subscribers read; -subscription has no default, and -metrics without it is a usage error
// of one line that names it.
func TestDeliveredSeriesFlags(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	o, err := parseFlags([]string{"-url", "http://127.0.0.1:1" + githubPath, "-secret", "s"}, &stderr)
	require.NoError(t, err)
	require.Equal(t, "github.push", o.topic)
	require.Empty(t, o.subscription)

	o, err = parseFlags([]string{"-url", "http://127.0.0.1:1" + githubPath, "-secret", "s", "-metrics", "http://127.0.0.1:1/metrics",
		"-subscription", "catalog.github-provider.acme", "-expect-topic", "github.repository"}, &stderr)
	require.NoError(t, err)
	require.Equal(t, "catalog.github-provider.acme", o.subscription)
	require.Equal(t, "github.repository", o.topic)

	stderr.Reset()
	var stdout bytes.Buffer
	code := run(t.Context(), []string{"-url", "http://127.0.0.1:1" + githubPath, "-secret", "s", "-metrics", "http://127.0.0.1:1/metrics"}, &stdout, &stderr)
	require.Equal(t, exitUsage, code)
	require.Equal(t, "webhookload: -metrics needs -subscription: the subscription whose deliveries of -expect-topic are counted\n", stderr.String())
	require.Empty(t, stdout.String())
}

func TestRunJSON(t *testing.T) {
	t.Parallel()
	srv := fakeStagebus(t, "s", false)
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{
		"-url", srv.URL + githubPath, "-metrics", srv.URL + "/metrics", "-subscription", "recorder", "-secret", "s",
		"-conns", "2", "-duration", "200ms", "-warmup", "50ms", "-json",
	}, &stdout, &stderr)
	require.Equal(t, exitOK, code, stderr.String())
	var got struct {
		OK            bool    `json:"ok"`
		Delivered     int64   `json:"delivered"`
		AcceptedTotal int64   `json:"accepted_total"`
		RPS2xx        float64 `json:"rps_2xx"`
		P99Ms         float64 `json:"p99_ms"`
		Measured      counts  `json:"measured"`
	}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &got), stdout.String())
	require.True(t, got.OK)
	require.Positive(t, got.AcceptedTotal)
	require.Equal(t, got.AcceptedTotal, got.Delivered)
	require.Positive(t, got.RPS2xx)
	require.Positive(t, got.P99Ms)
	require.Equal(t, got.Measured.Requests, got.Measured.Statuses[http.StatusAccepted])
}

// TestCompare runs -compare end to end: the bare server in a child process (this test
// binary, see TestMain), and a fake Stagebus.
func TestCompare(t *testing.T) {
	t.Parallel()
	srv := fakeStagebus(t, "s", false)
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{
		"-compare", "-url", srv.URL + githubPath, "-metrics", srv.URL + "/metrics", "-subscription", "recorder", "-secret", "s",
		"-conns", "4", "-duration", "300ms", "-warmup", "50ms", "-json",
	}, &stdout, &stderr)
	require.Equal(t, exitOK, code, stderr.String())
	var c struct {
		Bare, Stagebus struct {
			Target    string `json:"target"`
			Delivered *int64 `json:"delivered"`
			Measured  counts `json:"measured"`
		}
		RPSRatio float64 `json:"rps_ratio"`
		P99Ratio float64 `json:"p99_ratio"`
		OK       bool    `json:"ok"`
	}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &c), stdout.String())
	require.True(t, c.OK)
	require.NotEqual(t, c.Bare.Target, c.Stagebus.Target)
	require.Positive(t, c.Bare.Measured.Accepted)
	require.Positive(t, c.Stagebus.Measured.Accepted)
	require.Nil(t, c.Bare.Delivered, "metrics are the Stagebus run's only")
	require.NotNil(t, c.Stagebus.Delivered)
	require.Positive(t, c.RPSRatio)
	require.Positive(t, c.P99Ratio)

	stdout.Reset()
	code = run(t.Context(), []string{
		"-compare", "-url", srv.URL + githubPath, "-secret", "s", "-conns", "2", "-duration", "100ms", "-warmup", "0s",
	}, &stdout, &stderr)
	require.Equal(t, exitOK, code, stderr.String())
	require.Contains(t, stdout.String(), "== bare net/http server")
	require.Contains(t, stdout.String(), "stagebus/bare")
}

// TestCompareRounds alternates bare and Stagebus runs and judges the median of the rounds.
func TestCompareRounds(t *testing.T) {
	t.Parallel()
	srv := fakeStagebus(t, "s", false)
	args := []string{"-compare", "-rounds", "3", "-url", srv.URL + githubPath, "-secret", "s", "-conns", "2", "-duration", "100ms", "-warmup", "0s"}
	var stdout, stderr bytes.Buffer
	require.Equal(t, exitOK, run(t.Context(), append(args, "-json"), &stdout, &stderr), stderr.String())
	var c struct {
		Rounds []struct {
			BareRPS  float64 `json:"bare_rps"`
			RPSRatio float64 `json:"rps_ratio"`
			P99Ratio float64 `json:"p99_ratio"`
		} `json:"rounds"`
		RPSRatio float64 `json:"rps_ratio"`
		P99Ratio float64 `json:"p99_ratio"`
	}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &c), stdout.String())
	require.Len(t, c.Rounds, 3)
	var ratios, p99s []float64
	for _, r := range c.Rounds {
		require.Positive(t, r.BareRPS)
		ratios, p99s = append(ratios, r.RPSRatio), append(p99s, r.P99Ratio)
	}
	slices.Sort(ratios)
	slices.Sort(p99s)
	require.Equal(t, ratios[1], c.RPSRatio)
	require.Equal(t, p99s[1], c.P99Ratio)

	stdout.Reset()
	require.Equal(t, exitOK, run(t.Context(), args, &stdout, &stderr), stderr.String())
	require.Contains(t, stdout.String(), "median of the rounds: req/s ratio")
}

func TestMedian(t *testing.T) {
	tests := []struct {
		ratios []float64
		want   float64
	}{
		{[]float64{0.3}, 0.3},
		{[]float64{0.5, 0.1, 0.3}, 0.3},
		{[]float64{0.4, 0.1, 0.3, 0.2}, 0.25},
	}
	for _, tt := range tests {
		rounds := make([]round, len(tt.ratios))
		for i, r := range tt.ratios {
			rounds[i].RPSRatio = r
		}
		require.InDelta(t, tt.want, median(rounds, func(r round) float64 { return r.RPSRatio }), 1e-9, "%v", tt.ratios)
	}
}

func FuzzValidSignature(f *testing.F) {
	f.Add("It's a Secret to Everybody", []byte("Hello, World!"), "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
	f.Add("k", []byte{}, "sha256=")
	f.Add("k", []byte("{}"), "SHA256=00")
	f.Fuzz(func(t *testing.T, secret string, body []byte, header string) {
		want := sign(secret, body)
		require.True(t, validSignature(secret, want, body))
		rest, ok := strings.CutPrefix(header, "sha256=")
		require.Equal(t, ok && strings.EqualFold(rest, want[len("sha256="):]), validSignature(secret, header, body))
	})
}
