package eventspage

import (
	"net/http"

	"go.uber.org/fx"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/console"
	"github.com/stagebus/stagebus/console/i18n"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/deadletter"
	"github.com/stagebus/stagebus/eventsvc/kafka"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
)

// params are the module's inputs.
type params struct {
	fx.In
	History     *sqlbus.History
	DeadLetters *deadletter.Store `optional:"true"`
	Bus         *eventsvc.Service
	BusName     eventsvc.BusName
	Kafka       kafka.Config
	Auth        *auth.Service
}

func newSection(p params) console.Section {
	pg := &page{history: p.History, deadLetters: p.DeadLetters, bus: p.Bus, auth: p.Auth,
		historyKept: p.BusName == "sql" || (p.BusName == "kafka" && p.Kafka.Outbox)}
	return console.Section{
		Name:      "events",
		Templates: i18n.Sub(templates, "templates"),
		Messages:  Messages,
		Nav:       []console.Nav{{Path: "/events", Label: "events.nav", Order: 20, Admin: true}},
		Pages: []console.Page{
			{Method: http.MethodGet, Path: "/events", Admin: true, Handler: pg.list},
			{Method: http.MethodGet, Path: "/events/{seq}", Admin: true, Handler: pg.detail},
			{Method: http.MethodPost, Path: "/events/{seq}/replay", Admin: true, Handler: pg.replay},
		},
		Live: []console.Live{{Name: "events", Admin: true, Events: pg.live}},
	}
}

// Module adds the Events pages to the console, for admins (payloads may carry private
// data): recent events per topic from the event history, search by id, an event's payload,
// metadata and where each subscription stands with it, and replay. New events appear live.
var Module = fx.Module("console/eventspage",
	fx.Provide(console.AsSection(newSection)),
)
