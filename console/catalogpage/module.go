package catalogpage

import (
	"net/http"

	"go.uber.org/fx"

	"github.com/stagebus/stagebus/catalog"
	"github.com/stagebus/stagebus/console"
	"github.com/stagebus/stagebus/console/i18n"
)

// NewSection returns the Catalog section reading the catalog c.
func NewSection(c Catalog) console.Section {
	p := &page{catalog: c}
	return console.Section{
		Name:      "catalog",
		Templates: i18n.Sub(templates, "templates"),
		Messages:  Messages,
		Nav:       []console.Nav{{Path: "/catalog", Label: "catalog.nav", Order: 40}},
		Pages: []console.Page{
			{Method: http.MethodGet, Path: "/catalog", Handler: p.list},
			{Method: http.MethodGet, Path: "/catalog/{namespace}/{kind}/{name}", Handler: p.entity},
		},
		Live: []console.Live{
			{Name: "catalog", Events: p.listLive, Topics: changeTopics},
			{Name: "entity", Events: p.entityLive, Topics: changeTopics},
		},
	}
}

// changeTopics are the catalog's change events, which the banners must see even when the
// live stream skips a flood of webhooks.
var changeTopics = []string{catalog.TopicEntityUpserted, catalog.TopicEntityDeleted}

// params are the module's inputs.
type params struct {
	fx.In
	Store *catalog.Store
}

func newSection(p params) console.Section { return NewSection(p.Store) }

// Module adds the Catalog pages to the console.
var Module = fx.Module("console/catalogpage",
	fx.Provide(console.AsSection(newSection)),
)
