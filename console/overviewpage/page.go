package overviewpage

import (
	"context"
	"embed"
	"io/fs"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/console"
	"github.com/stagebus/stagebus/console/i18n"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/deadletter"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
	"github.com/stagebus/stagebus/health"
	"github.com/stagebus/stagebus/internal/background"
)

var (
	//go:embed templates/*.html
	templates embed.FS
	//go:embed messages/*.yaml
	messages embed.FS
)

// Messages are the page's en.yaml and de.yaml.
var Messages = i18n.Source{Name: "console/overviewpage", FS: sub(messages, "messages")}

func sub(f embed.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return s
}

// page serves the overview.
type page struct {
	sampler     *sampler
	checks      []health.Check
	bus         eventsvc.BusName
	history     *sqlbus.History
	deadLetters *deadletter.Store

	lagMu   sync.Mutex
	lag     []sqlbus.Lag // the last Lag, read at lagAt
	lagAt   time.Time
	lagFail bool
}

// lagTTL is how long the subscription lag is reused: it reads up to LagCap index entries a
// partition, too much for every page view and live tick.
const lagTTL = 5 * time.Second

// subscriptionLag returns the history's Lag, read at most once per lagTTL whoever asks; it
// reports false when it cannot be read.
func (p *page) subscriptionLag(ctx context.Context) ([]sqlbus.Lag, bool) {
	p.lagMu.Lock()
	defer p.lagMu.Unlock()
	if now := time.Now(); now.Sub(p.lagAt) >= lagTTL {
		lag, err := p.history.Lag(ctx)
		p.lag, p.lagFail, p.lagAt = lag, err != nil, now
	}
	return p.lag, !p.lagFail
}

// kv is a name and a text.
type kv struct{ Name, Text string }

// data is the overview's template data.
type data struct {
	Bus         string
	Ready       bool
	Failing     []kv
	Details     []kv
	Lag         []sqlbus.Lag
	LagError    bool
	DeadLetters int
	OutboxLag   float64
	HasOutbox   bool
	Published   chart
	Ingress     chart
	Since       time.Time
	Now         time.Time
	Admin       bool
}

func (p *page) collect(ctx context.Context, v *console.View) (data, error) {
	d := data{Bus: string(p.bus), Since: p.sampler.started, Now: p.sampler.now(), Admin: v.Admin}
	failed := health.Run(ctx, p.checks)
	d.Ready = len(failed) == 0
	d.Failing = sorted(failed)
	d.Details = sorted(health.Details(ctx, p.checks))
	samples, err := p.sampler.history()
	if err != nil {
		return d, err
	}
	last := samples[len(samples)-1]
	d.OutboxLag, d.HasOutbox = last.outboxLag, last.hasOutbox && p.bus == "kafka"
	d.Published = publishedChart(samples, last.at)
	d.Ingress = ingressChart(samples, last.at)
	if p.history != nil {
		var ok bool
		d.Lag, ok = p.subscriptionLag(ctx)
		d.LagError = !ok
	}
	if v.Admin && p.deadLetters != nil {
		if d.DeadLetters, err = p.deadLetters.Count(ctx); err != nil {
			return d, err
		}
	}
	return d, nil
}

func sorted(m map[string]string) []kv {
	out := make([]kv, 0, len(m))
	for k, v := range m {
		out = append(out, kv{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (p *page) serve(w http.ResponseWriter, r *http.Request, v *console.View) error {
	d, err := p.collect(r.Context(), v)
	if err != nil {
		return err
	}
	return v.Render(w, http.StatusOK, "overview/overview", d)
}

// tick re-renders the panels and charts for the live channel.
func (p *page) tick(ctx context.Context, v *console.View, _ string) ([]console.Update, error) {
	d, err := p.collect(ctx, v)
	if err != nil {
		return nil, err
	}
	html, err := v.Fragment("overview/overview", "live", d)
	if err != nil {
		return nil, err
	}
	return []console.Update{{Target: "#overview-live", Position: "replace", HTML: html}}, nil
}

// params are the module's inputs.
type params struct {
	fx.In
	Lifecycle   fx.Lifecycle
	Console     console.Config
	Registry    *prometheus.Registry
	Checks      []health.Check `group:"health"`
	Bus         eventsvc.BusName
	History     *sqlbus.History   `optional:"true"`
	DeadLetters *deadletter.Store `optional:"true"`
}

func newSection(p params) console.Section {
	pg := &page{sampler: newSampler(p.Registry, time.Now), checks: p.Checks, bus: p.Bus, history: p.History, deadLetters: p.DeadLetters}
	if p.Console.Enabled { // a console that is off shows no charts: nothing to sample
		loop := background.New("console-overview-sampler", sampleEvery, pg.sampler.take, background.Immediately())
		p.Lifecycle.Append(loop.Hook())
	}
	return console.Section{
		Name:      "overview",
		Templates: sub(templates, "templates"),
		Messages:  Messages,
		Nav:       []console.Nav{{Path: "/", Label: "overview.nav", Order: 10}},
		Pages:     []console.Page{{Method: http.MethodGet, Path: "/{$}", Handler: pg.serve}},
		Live:      []console.Live{{Name: "overview", Every: sampleEvery, Tick: pg.tick}},
	}
}

// Module adds the overview to the console: the bus and its health, subscription lag, dead
// letters and the outbox, and charts of the last hour's events and webhooks (this instance's
// counters, sampled every 15 seconds).
var Module = fx.Module("console/overviewpage",
	fx.Provide(console.AsSection(newSection)),
)
