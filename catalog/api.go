package catalog

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/stagebus/stagebus/httpserver"
)

// API serves the catalog routes under /api/catalog, compatible with @backstage/catalog-client.
type API struct {
	store     *Store
	locations *Locations
}

// NewAPI returns the catalog API.
func NewAPI(store *Store, locations *Locations) *API { return &API{store: store, locations: locations} }

// Routes returns the catalog routes; all require credentials.
func (a *API) Routes() []httpserver.Route {
	h := func(method, path string, f http.HandlerFunc) httpserver.Route {
		return httpserver.Route{Method: method, Path: "/api/catalog" + path, Handler: f}
	}
	return []httpserver.Route{
		h(http.MethodGet, "/entities", a.getEntities),
		h(http.MethodGet, "/entities/by-query", a.queryEntities),
		h(http.MethodPost, "/entities/by-refs", a.byRefs),
		h(http.MethodPost, "/entities/by-refs/{$}", a.byRefs),
		h(http.MethodGet, "/entities/by-name/{kind}/{namespace}/{name}", a.byName),
		h(http.MethodGet, "/entities/by-uid/{uid}", a.byUID),
		h(http.MethodDelete, "/entities/by-uid/{uid}", a.deleteByUID),
		h(http.MethodGet, "/entity-facets", a.facets),
		h(http.MethodGet, "/locations", a.listLocations),
		h(http.MethodPost, "/locations", a.addLocation),
		h(http.MethodGet, "/locations/{id}", a.getLocation),
		h(http.MethodDelete, "/locations/{id}", a.deleteLocation),
	}
}

func bad(w http.ResponseWriter, r *http.Request, format string, args ...any) {
	httpserver.WriteError(w, r, httpserver.Errorf(http.StatusBadRequest, format, args...))
}

// fields reads the fields parameter: comma-separated, possibly repeated.
func fields(r *http.Request) []string {
	var out []string
	for _, v := range r.URL.Query()["fields"] {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
	}
	return out
}

func writeProjected(w http.ResponseWriter, r *http.Request, status int, entities []Entity, fs []string, wrap func([]any) any) {
	items := make([]any, 0, len(entities))
	for _, e := range entities {
		p, err := Project(e, fs)
		if err != nil {
			httpserver.WriteError(w, r, err)
			return
		}
		items = append(items, p)
	}
	httpserver.WriteJSON(w, status, wrap(items))
}

// getEntities is GET /entities: filter, fields, order (asc:field / desc:field), limit, offset.
// It answers a JSON array, as Backstage does.
func (a *API) getEntities(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("after") != "" {
		bad(w, r, "the after cursor is not supported here; use offset and limit, or /entities/by-query")
		return
	}
	filters, err := ParseFilters(q["filter"])
	if err != nil {
		bad(w, r, "%v", err)
		return
	}
	limit, err := httpserver.QueryInt(r, "limit", 0, 0, 100000)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	offset, err := httpserver.QueryInt(r, "offset", 0, 0, 1<<30)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	var order []Order
	for _, o := range q["order"] {
		dir, field, ok := strings.Cut(o, ":")
		if !ok || (dir != "asc" && dir != "desc") || field == "" {
			bad(w, r, "order %q must be asc:<field> or desc:<field>", o)
			return
		}
		order = append(order, Order{Field: field, Desc: dir == "desc"})
	}
	entities, _, err := a.store.Query(r.Context(), Query{Filters: filters, Order: order, Limit: limit, Offset: offset})
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	writeProjected(w, r, http.StatusOK, entities, fields(r), func(items []any) any { return items })
}

// cursor carries a by-query request to its next pages.
type cursor struct {
	Filter     []string `json:"f,omitempty"`
	OrderField []string `json:"o,omitempty"`
	Term       string   `json:"t,omitempty"`
	TermFields []string `json:"tf,omitempty"`
	Offset     int      `json:"n"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.Offset < 0 {
		return cursor{}, errors.New("invalid cursor; use the nextCursor or prevCursor of a previous page")
	}
	return c, nil
}

// queryEntities is GET /entities/by-query with cursor paging: {items, totalItems, pageInfo}.
func (a *API) queryEntities(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c := cursor{Filter: q["filter"], OrderField: q["orderField"], Term: q.Get("fullTextFilterTerm"), TermFields: splitAll(q["fullTextFilterFields"])}
	if raw := q.Get("cursor"); raw != "" {
		var err error
		if c, err = decodeCursor(raw); err != nil {
			bad(w, r, "%v", err)
			return
		}
	}
	limit, err := httpserver.QueryInt(r, "limit", 20, 0, 10000)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	filters, err := ParseFilters(c.Filter)
	if err != nil {
		bad(w, r, "%v", err)
		return
	}
	var order []Order
	if len(c.OrderField) > 0 { // as in Backstage, only the first order field applies
		of := c.OrderField[0]
		field, dir, _ := strings.Cut(of, ",")
		if field == "" || (dir != "" && dir != "asc" && dir != "desc") {
			bad(w, r, "orderField %q must be <field>,asc or <field>,desc", of)
			return
		}
		order = append(order, Order{Field: field, Desc: dir == "desc"})
	}
	entities, total, err := a.store.Query(r.Context(), Query{Filters: filters, Order: order, FullTextTerm: c.Term, FullTextFields: c.TermFields, Limit: limit, Offset: c.Offset})
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	page := map[string]any{}
	if c.Offset+len(entities) < total && len(entities) > 0 {
		next := c
		next.Offset += len(entities)
		page["nextCursor"] = next.encode()
	}
	if c.Offset > 0 {
		prev := c
		prev.Offset = max(0, c.Offset-limit)
		page["prevCursor"] = prev.encode()
	}
	writeProjected(w, r, http.StatusOK, entities, fields(r), func(items []any) any {
		return map[string]any{"items": items, "totalItems": total, "pageInfo": page}
	})
}

func splitAll(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// byRefs is POST /entities/by-refs {entityRefs, fields}: {items} in request order, null for
// refs that are unknown.
func (a *API) byRefs(w http.ResponseWriter, r *http.Request) {
	var body struct {
		EntityRefs []string `json:"entityRefs"`
		Fields     []string `json:"fields"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<20)).Decode(&body); err != nil || body.EntityRefs == nil {
		bad(w, r, "the body must be JSON {\"entityRefs\": [...], \"fields\": [...]}")
		return
	}
	filters, err := ParseFilters(r.URL.Query()["filter"])
	if err != nil {
		bad(w, r, "%v", err)
		return
	}
	found, err := a.store.GetByRefs(r.Context(), body.EntityRefs, filters)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	fs := append(fields(r), body.Fields...)
	items := make([]any, len(found))
	for i, e := range found {
		if e == nil {
			continue
		}
		if items[i], err = Project(*e, fs); err != nil {
			httpserver.WriteError(w, r, err)
			return
		}
	}
	httpserver.WriteJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (a *API) byName(w http.ResponseWriter, r *http.Request) {
	ref := EntityRef{Kind: r.PathValue("kind"), Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}
	e, err := a.store.GetByRef(r.Context(), ref)
	respond(w, r, http.StatusOK, e, err, "no entity "+ref.String())
}

func (a *API) byUID(w http.ResponseWriter, r *http.Request) {
	e, err := a.store.GetByUID(r.Context(), r.PathValue("uid"))
	respond(w, r, http.StatusOK, e, err, "no entity with uid "+r.PathValue("uid"))
}

// respond writes the outcome of a lookup or a deletion: ErrNotFound as a 404 saying
// notFound, another error as httpserver.WriteError does, else body with status (no body for
// 204).
func respond(w http.ResponseWriter, r *http.Request, status int, body any, err error, notFound string) {
	switch {
	case errors.Is(err, ErrNotFound):
		httpserver.WriteError(w, r, httpserver.Errorf(http.StatusNotFound, "%s", notFound))
	case err != nil:
		httpserver.WriteError(w, r, err)
	case status == http.StatusNoContent:
		w.WriteHeader(status)
	default:
		httpserver.WriteJSON(w, status, body)
	}
}

func (a *API) deleteByUID(w http.ResponseWriter, r *http.Request) {
	err := a.store.DeleteByUID(r.Context(), r.PathValue("uid"))
	respond(w, r, http.StatusNoContent, nil, err, "no entity with uid "+r.PathValue("uid"))
}

// facets is GET /entity-facets?facet=…&filter=…: {facets: {field: [{value, count}]}}.
func (a *API) facets(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if len(q["facet"]) == 0 {
		bad(w, r, "give at least one facet parameter, e.g. facet=kind")
		return
	}
	filters, err := ParseFilters(q["filter"])
	if err != nil {
		bad(w, r, "%v", err)
		return
	}
	out, err := a.store.Facets(r.Context(), q["facet"], filters)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, map[string]any{"facets": out})
}

func (a *API) listLocations(w http.ResponseWriter, r *http.Request) {
	locs, err := a.locations.List(r.Context())
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	out := make([]map[string]Location, len(locs))
	for i, l := range locs {
		out[i] = map[string]Location{"data": l}
	}
	httpserver.WriteJSON(w, http.StatusOK, out)
}

// addLocation is POST /locations {type, target} (?dryRun=true): 201 {location, entities}.
func (a *API) addLocation(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Type   string `json:"type"`
		Target string `json:"target"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil || body.Target == "" {
		bad(w, r, "the body must be JSON {\"type\": \"url\", \"target\": \"https://…\"}")
		return
	}
	if body.Type == "" {
		body.Type = LocationURL
	}
	loc, entities, err := a.locations.Add(r.Context(), body.Type, body.Target, r.URL.Query().Get("dryRun") == "true")
	switch {
	case errors.Is(err, ErrLocationExists):
		httpserver.WriteError(w, r, httpserver.Errorf(http.StatusConflict, "location %s:%s already exists (id %s)", loc.Type, loc.Target, loc.ID))
		return
	case errors.Is(err, ErrEntitiesConflict):
		httpserver.WriteError(w, r, httpserver.Errorf(http.StatusConflict, "%v", err))
		return
	case errors.Is(err, ErrLocationType), errors.Is(err, ErrNoReader), errors.Is(err, ErrInvalidEntities):
		bad(w, r, "%v", err)
		return
	case err != nil:
		httpserver.WriteError(w, r, httpserver.Errorf(http.StatusBadRequest, "%v", err))
		return
	}
	if entities == nil {
		entities = []Entity{}
	}
	httpserver.WriteJSON(w, http.StatusCreated, map[string]any{"location": loc, "entities": entities})
}

func (a *API) getLocation(w http.ResponseWriter, r *http.Request) {
	loc, err := a.locations.Get(r.Context(), r.PathValue("id"))
	respond(w, r, http.StatusOK, loc, err, "no location "+r.PathValue("id"))
}

func (a *API) deleteLocation(w http.ResponseWriter, r *http.Request) {
	err := a.locations.Delete(r.Context(), r.PathValue("id"))
	respond(w, r, http.StatusNoContent, nil, err, "no location "+r.PathValue("id"))
}
