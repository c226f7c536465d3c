package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// deliveredMetric is the counter whose increase is compared with the 202 answers: its series
// of one topic and one subscription (-expect-topic and -subscription).
const deliveredMetric = "stagebus_events_delivered_total"

// scrapeDelivered returns the sum of the deliveredMetric series labelled with topic and
// subscription at metricsURL, 0 when there is none.
func scrapeDelivered(ctx context.Context, client *http.Client, metricsURL, topic, subscription string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return 0, fmt.Errorf("scrape %s: %w", metricsURL, err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("scrape %s: status %s", metricsURL, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("scrape %s: %w", metricsURL, err)
	}
	var sum float64
	for _, m := range fams[deliveredMetric].GetMetric() {
		var gotTopic, gotSub bool
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "topic":
				gotTopic = l.GetValue() == topic
			case "subscription":
				gotSub = l.GetValue() == subscription
			}
		}
		if gotTopic && gotSub {
			sum += m.GetCounter().GetValue() + m.GetUntyped().GetValue()
		}
	}
	return int64(math.Round(sum)), nil
}

// waitDelivered scrapes until the counter has grown by at least want since before, or until
// settle has passed, and returns the last increase seen.
func waitDelivered(ctx context.Context, client *http.Client, metricsURL, topic, subscription string, before, want int64, settle time.Duration) (int64, error) {
	deadline := time.Now().Add(settle)
	for {
		now, err := scrapeDelivered(ctx, client, metricsURL, topic, subscription)
		if err != nil {
			return 0, err
		}
		if now-before >= want || time.Now().After(deadline) {
			return now - before, nil
		}
		select {
		case <-ctx.Done():
			return now - before, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
