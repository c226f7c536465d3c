package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// loadConfig says what to send, where and for how long.
type loadConfig struct {
	URL      string        // the webhook endpoint, http or https
	Secret   string        // signs the bodies
	Conns    int           // concurrent keep-alive connections, one request in flight on each
	Duration time.Duration // measured time, after the warm-up
	Warmup   time.Duration // time before the measurement, not counted in rates or latencies
	Repos    int           // distinct repositories (full_name values) the pushes come from
}

// hookID is the X-GitHub-Hook-ID of every request: one webhook configured on the organization.
const hookID = "512345678"

// userAgent is what GitHub's webhook sender calls itself.
const userAgent = "GitHub-Hookshot/7c5a1b2"

// maxSamples is how many distinct error answers a result keeps.
const maxSamples = 5

// counts are the answers of one phase (warm-up or measurement) of a run.
type counts struct {
	Requests   int64         `json:"requests"`
	Accepted   int64         `json:"accepted"`    // 202
	Duplicate  int64         `json:"duplicate"`   // 200
	Errors     int64         `json:"errors"`      // any other status, and no answer at all
	NoResponse int64         `json:"no_response"` // of Errors: transport failures, timeouts
	Statuses   map[int]int64 `json:"statuses"`    // every HTTP status answered
}

func (c *counts) add(o counts) {
	c.Requests += o.Requests
	c.Accepted += o.Accepted
	c.Duplicate += o.Duplicate
	c.Errors += o.Errors
	c.NoResponse += o.NoResponse
	if c.Statuses == nil {
		c.Statuses = map[int]int64{}
	}
	for s, n := range o.Statuses {
		c.Statuses[s] += n
	}
}

func (c *counts) count(status int) {
	c.Requests++
	if c.Statuses == nil {
		c.Statuses = map[int]int64{}
	}
	c.Statuses[status]++
	switch status {
	case http.StatusAccepted:
		c.Accepted++
	case http.StatusOK:
		c.Duplicate++
	default:
		c.Errors++
	}
}

func (c *counts) noResponse() {
	c.Requests++
	c.Errors++
	c.NoResponse++
}

// result is what a run measured. Rates and latencies cover the requests sent after the
// warm-up; every request, warm-up included, is counted in Warmup or Measured.
type result struct {
	Target      string        `json:"target"`
	Conns       int           `json:"conns"`
	Duration    time.Duration `json:"-"`
	Warmup      time.Duration `json:"-"`
	Connections int64         `json:"connections_opened"` // TCP connections dialed: Conns when keep-alive works
	Measured    counts        `json:"measured"`
	WarmupCount counts        `json:"warmup"`
	// Elapsed runs from the end of the warm-up to the last answer to a request sent before
	// the end of the run; the rates are measured requests divided by it.
	Elapsed      time.Duration `json:"-"`
	RPS2xx       float64       `json:"rps_2xx"`
	RPSAll       float64       `json:"rps_all"`
	P50          time.Duration `json:"-"`
	P99          time.Duration `json:"-"`
	Max          time.Duration `json:"-"`
	ErrorSamples []string      `json:"error_samples,omitempty"`
	// Delivered is the increase of the delivered counter over the run, warm-up included;
	// nil when no metrics URL was given.
	Delivered *int64   `json:"delivered,omitempty"`
	Problems  []string `json:"problems,omitempty"`
}

// accepted is the number of 202 answers, warm-up included.
func (r *result) accepted() int64 { return r.Measured.Accepted + r.WarmupCount.Accepted }

// check records in r.Problems what makes the run a failure: no answer at all, errors in
// more than 1% of the requests (warm-up included), fewer deliveries than 202 answers.
func (r *result) check() {
	var all counts
	all.add(r.WarmupCount)
	all.add(r.Measured)
	switch {
	case all.Requests == 0:
		r.Problems = append(r.Problems, "no request was sent")
	case all.Errors*100 > all.Requests:
		r.Problems = append(r.Problems, fmt.Sprintf("%d of %d requests failed (%.2f%%), more than 1%%",
			all.Errors, all.Requests, 100*float64(all.Errors)/float64(all.Requests)))
	}
	if r.Delivered != nil && *r.Delivered < r.accepted() {
		r.Problems = append(r.Problems, fmt.Sprintf("only %d of %d accepted deliveries reached the subscriber",
			*r.Delivered, r.accepted()))
	}
}

// workerStats is one connection's share of a run.
type workerStats struct {
	warmup, measured counts
	latency          histogram
	lastDone         time.Time // answer to the last measured request
	samples          []string
}

func (s *workerStats) sample(msg string) {
	if len(s.samples) < maxSamples {
		s.samples = append(s.samples, msg)
	}
}

// errUnreachable is returned when nothing listens at the target.
var errUnreachable = errors.New("target unreachable")

// runLoad sends signed push webhooks over cfg.Conns connections, as fast as the target
// answers, for cfg.Warmup then cfg.Duration. Requests in flight at the end are answered
// and counted, never cancelled (so that every 202 is counted); cancelling ctx stops the run.
func runLoad(ctx context.Context, cfg loadConfig) (*result, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("-url %q: want an http:// or https:// URL", cfg.URL)
	}
	if cfg.Conns < 1 || cfg.Repos < 1 || cfg.Duration <= 0 || cfg.Warmup < 0 {
		return nil, errors.New("want at least one connection and repository, and a positive duration")
	}
	ds, err := buildDeliveries(cfg.Repos, cfg.Secret)
	if err != nil {
		return nil, err
	}
	if err := probe(ctx, u); err != nil {
		return nil, err
	}

	var dials atomic.Int64
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return dialer.DialContext(ctx, network, addr)
		},
		MaxIdleConns:        cfg.Conns,
		MaxIdleConnsPerHost: cfg.Conns,
		MaxConnsPerHost:     cfg.Conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		Protocols:           new(http.Protocols),
	}
	tr.Protocols.SetHTTP1(true) // GitHub delivers over HTTP/1.1, on https too
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	start := time.Now()
	measureFrom := start.Add(cfg.Warmup)
	end := measureFrom.Add(cfg.Duration)
	stats := make([]*workerStats, cfg.Conns)
	var wg sync.WaitGroup
	for i := range stats {
		stats[i] = new(workerStats)
		wg.Go(func() { work(ctx, client, cfg.URL, ds, measureFrom, end, stats[i]) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("run interrupted: %w", err)
	}

	r := &result{
		Target: cfg.URL, Conns: cfg.Conns, Duration: cfg.Duration, Warmup: cfg.Warmup,
		Connections: dials.Load(),
	}
	var lat histogram
	var lastDone time.Time
	for _, s := range stats {
		r.WarmupCount.add(s.warmup)
		r.Measured.add(s.measured)
		lat.merge(&s.latency)
		if s.lastDone.After(lastDone) {
			lastDone = s.lastDone
		}
		for _, m := range s.samples {
			if len(r.ErrorSamples) < maxSamples && !slices.Contains(r.ErrorSamples, m) {
				r.ErrorSamples = append(r.ErrorSamples, m)
			}
		}
	}
	if r.Measured.Requests > 0 {
		r.Elapsed = lastDone.Sub(measureFrom)
		sec := r.Elapsed.Seconds()
		r.RPSAll = float64(r.Measured.Requests) / sec
		r.RPS2xx = float64(r.Measured.Accepted+r.Measured.Duplicate) / sec
	}
	r.P50, r.P99, r.Max = lat.quantile(0.50), lat.quantile(0.99), lat.max
	return r, nil
}

// probe fails fast, with errUnreachable, when nothing accepts TCP connections at u.
func probe(ctx context.Context, u *url.URL) error {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	d := net.Dialer{Timeout: 3 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("%w: %w", errUnreachable, err)
	}
	return c.Close()
}

// work is one connection's loop: a request, its whole answer, the next request. A request
// counts as measured when it is sent after measureFrom; none is sent after end.
func work(ctx context.Context, client *http.Client, target string, ds []delivery, measureFrom, end time.Time, s *workerStats) {
	for ctx.Err() == nil {
		sent := time.Now()
		if !sent.Before(end) {
			return
		}
		c := &s.warmup
		measured := !sent.Before(measureFrom)
		if measured {
			c = &s.measured
		}
		d := &ds[rand.IntN(len(ds))]
		status, sample, err := send(ctx, client, target, d)
		done := time.Now()
		if err != nil {
			c.noResponse()
			s.sample(err.Error())
			// Do not spin on a dead target: the run fails anyway.
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		c.count(status)
		if sample != "" {
			s.sample(sample)
		}
		if measured {
			s.latency.record(done.Sub(sent))
			s.lastDone = done
		}
	}
}

// send posts d with a fresh delivery id and reads the whole answer. For an answer other
// than 200 or 202, sample is the status and the start of the body.
func send(ctx context.Context, client *http.Client, target string, d *delivery) (status int, sample string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(d.body))
	if err != nil {
		return 0, "", err
	}
	// Set directly to keep GitHub's spelling on the wire (X-GitHub-…, not X-Github-…).
	h := req.Header
	h["Content-Type"] = []string{"application/json"}
	h["User-Agent"] = []string{userAgent}
	h["X-GitHub-Event"] = []string{"push"}
	h["X-GitHub-Delivery"] = []string{uuid.NewString()}
	h["X-GitHub-Hook-ID"] = []string{hookID}
	h["X-GitHub-Hook-Installation-Target-Type"] = []string{"organization"}
	h["X-GitHub-Hook-Installation-Target-ID"] = []string{"149123457"}
	h["X-Hub-Signature-256"] = []string{d.signature}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var head []byte
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		head, _ = io.ReadAll(io.LimitReader(resp.Body, 200))
		sample = strconv.Itoa(resp.StatusCode) + " " + string(bytes.TrimSpace(head))
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, "", fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, sample, nil
}
