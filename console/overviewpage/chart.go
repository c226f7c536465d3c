package overviewpage

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Chart geometry, in SVG user units.
const (
	chartWidth  = 640
	chartHeight = 200
	padLeft     = 52
	padRight    = 8
	padTop      = 10
	padBottom   = 22
)

// chart is a line chart of per-minute rates over the last hour, drawn by the template as
// SVG, with the numbers in a table beside it for people who cannot see it.
type chart struct {
	ID     string
	Title  string // message id
	Series []series
	YMax   float64 // the top of the y axis, events per minute
	Width  int
	Height int
	// Geometry the template needs.
	Left, Right, Top, Bottom int
}

// series is one line.
type series struct {
	Label  string  // shown as is (a topic) or a message id (an outcome), see Key
	Key    bool    // Label is a message id
	Class  string  // s1…s8: colour and dash
	Points string  // polyline points
	Dots   []dot   // the same points, drawn as dots so that a lone one shows
	Total  float64 // events in the window
	Last   float64 // the latest rate, per minute
}

// dot is one point of a series, in SVG user units.
type dot struct{ X, Y float64 }

// lineOf is one series' rates and name.
type lineOf struct {
	label string
	key   bool
	pts   []point
	total float64
}

// newChart scales lines into the chart's box, the x axis spanning [now-window, now].
func newChart(id, title string, now time.Time, lines []lineOf) chart {
	c := chart{ID: id, Title: title, Width: chartWidth, Height: chartHeight, Left: padLeft, Right: chartWidth - padRight, Top: padTop, Bottom: chartHeight - padBottom}
	peak := 0.0
	for _, l := range lines {
		for _, p := range l.pts {
			peak = math.Max(peak, p.rate)
		}
	}
	c.YMax = niceCeil(peak)
	start := now.Add(-window)
	for i, l := range lines {
		s := series{Label: l.label, Key: l.key, Class: "s" + strconv.Itoa(i%8+1), Total: math.Round(l.total)}
		var b strings.Builder
		for _, p := range l.pts {
			if p.at.Before(start) {
				continue
			}
			x := float64(c.Left) + float64(c.Right-c.Left)*p.at.Sub(start).Seconds()/window.Seconds()
			y := float64(c.Bottom) - float64(c.Bottom-c.Top)*p.rate/c.YMax
			fmt.Fprintf(&b, "%.1f,%.1f ", x, y)
			s.Dots = append(s.Dots, dot{X: math.Round(x*10) / 10, Y: math.Round(y*10) / 10})
			s.Last = p.rate
		}
		s.Points = strings.TrimSpace(b.String())
		s.Last = math.Round(s.Last*10) / 10
		c.Series = append(c.Series, s)
	}
	return c
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 1).
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// publishedChart draws events published per topic: the 8 busiest, the rest as one line.
func publishedChart(samples []sample, now time.Time) chart {
	pick := func(s sample) map[string]float64 { return s.published }
	top, rest := topTopics(samples, 7)
	var lines []lineOf
	for _, t := range top {
		lines = append(lines, lineOf{label: t, pts: rates(samples, pick, t), total: delta(samples, pick, t)})
	}
	if len(rest) > 0 {
		sum := func(s sample) map[string]float64 {
			var v float64
			for _, t := range rest {
				v += s.published[t]
			}
			return map[string]float64{"": v}
		}
		lines = append(lines, lineOf{label: "overview.other_topics", key: true, pts: rates(samples, sum, ""), total: delta(samples, sum, "")})
	}
	return newChart("published", "overview.published", now, lines)
}

// ingressChart draws webhook requests by outcome.
func ingressChart(samples []sample, now time.Time) chart {
	pick := func(s sample) map[string]float64 { return s.ingress }
	var lines []lineOf
	for _, o := range outcomes {
		lines = append(lines, lineOf{label: "overview.outcome." + o, key: true, pts: rates(samples, pick, o), total: delta(samples, pick, o)})
	}
	return newChart("ingress", "overview.ingress", now, lines)
}

// delta is how much a counter grew over the samples.
func delta(samples []sample, pick func(sample) map[string]float64, key string) float64 {
	if len(samples) < 2 {
		return 0
	}
	return max(0, pick(samples[len(samples)-1])[key]-pick(samples[0])[key])
}
