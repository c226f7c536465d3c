package deadletterspage

import (
	"net/http"

	"go.uber.org/fx"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/console"
	"github.com/stagebus/stagebus/console/i18n"
	"github.com/stagebus/stagebus/eventsvc/deadletter"
)

// params are the module's inputs.
type params struct {
	fx.In
	Store *deadletter.Store
	API   *deadletter.API
	Auth  *auth.Service
}

func newSection(p params) console.Section {
	return section(p.Store, p.API, p.Auth)
}

// section is the Dead letters section on store, replaying through replayer and auditing
// the actions through audit.
func section(store *deadletter.Store, replayer Replayer, audit Auditor) console.Section {
	pg := &page{store: store, replayer: replayer, audit: audit}
	return console.Section{
		Name:      "deadletters",
		Templates: i18n.Sub(templates, "templates"),
		Messages:  Messages,
		Nav:       []console.Nav{{Path: "/dead-letters", Label: "deadletters.nav", Order: 30, Admin: true}},
		Pages: []console.Page{
			{Method: http.MethodGet, Path: "/dead-letters", Admin: true, Handler: pg.list},
			{Method: http.MethodGet, Path: "/dead-letters/{id}", Admin: true, Handler: pg.detail},
			{Method: http.MethodPost, Path: "/dead-letters/{id}/replay", Admin: true, Handler: pg.replay},
			{Method: http.MethodPost, Path: "/dead-letters/{id}/discard", Admin: true, Handler: pg.discard},
		},
	}
}

// Module adds the Dead letters pages to the console, for admins: the list (filters, paging,
// total), a dead letter's error, metadata and payload, replay and discard (both audited). It
// needs the eventsvc/deadletter and auth modules.
var Module = fx.Module("console/deadletterspage",
	fx.Provide(console.AsSection(newSection)),
)
