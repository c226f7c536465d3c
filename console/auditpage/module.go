package auditpage

import (
	"net/http"

	"go.uber.org/fx"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/console"
	"github.com/stagebus/stagebus/console/i18n"
	"github.com/stagebus/stagebus/database"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
	"github.com/stagebus/stagebus/subscribers/audit"
)

// params are the module's inputs.
type params struct {
	fx.In
	Store        *audit.Store
	Checkpointer *audit.Checkpointer
	DB           *database.DB
	History      *sqlbus.History
	Auth         *auth.Service
}

func newSection(p params) console.Section {
	return section(&page{store: p.Store, checkpointer: p.Checkpointer, db: p.DB, history: p.History, auditor: p.Auth})
}

// section is the Audit section served by pg.
func section(pg *page) console.Section {
	return console.Section{
		Name:      "audit",
		Templates: i18n.Sub(templates, "templates"),
		Messages:  Messages,
		Nav:       []console.Nav{{Path: "/audit", Label: "audit.nav", Order: 50, Admin: true}},
		Pages: []console.Page{
			{Method: http.MethodGet, Path: "/audit", Admin: true, Handler: pg.list},
			{Method: http.MethodPost, Path: "/audit/verify", Admin: true, Handler: pg.verify},
			{Method: http.MethodPost, Path: "/audit/checkpoint", Admin: true, Handler: pg.take},
		},
	}
}

// Module adds the Audit log page to the console, for admins: the audit log with filters
// and paging, the chain's verification against the last checkpoint, and taking a
// checkpoint. It needs the subscribers/audit, eventsvc/sql and auth modules.
var Module = fx.Module("console/auditpage",
	fx.Provide(console.AsSection(newSection)),
)
