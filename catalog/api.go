package catalog

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/stagebus/stagebus/httpserver"
)

// API serves the catalog routes under /api/catalog, compatible with @backstage/catalog-client
// (1.6.1, the version of Backstage 1.24, and later versions).
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
		h(http.MethodPost, "/entities/by-query", a.queryEntitiesByPredicate),
		h(http.MethodPost, "/entities/by-refs", a.byRefs),
		h(http.MethodPost, "/entities/by-refs/{$}", a.byRefs),
		h(http.MethodGet, "/entities/by-name/{kind}/{namespace}/{name}", a.byName),
		h(http.MethodGet, "/entities/by-name/{kind}/{namespace}/{name}/ancestry", a.ancestry),
		h(http.MethodGet, "/entities/by-uid/{uid}", a.byUID),
		h(http.MethodDelete, "/entities/by-uid/{uid}", a.deleteByUID),
		h(http.MethodGet, "/entity-facets", a.facets),
		h(http.MethodPost, "/entity-facets", a.facetsByPredicate),
		h(http.MethodPost, "/refresh", a.refresh),
		h(http.MethodPost, "/validate-entity", a.validateEntity),
		h(http.MethodPost, "/analyze-location", a.analyzeLocation),
		h(http.MethodGet, "/locations", a.listLocations),
		h(http.MethodPost, "/locations", a.addLocation),
		h(http.MethodPost, "/locations/by-query", a.queryLocations),
		h(http.MethodGet, "/locations/by-entity/{kind}/{namespace}/{name}", a.locationByEntity),
		h(http.MethodGet, "/locations/{id}", a.getLocation),
		h(http.MethodPut, "/locations/{id}", a.updateLocation),
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

// afterCursor is the after parameter of GET /entities, as Backstage encodes it:
// base64(JSON {limit, offset}).
type afterCursor struct {
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
}

// getEntities is GET /entities: filter, fields, order (asc:field / desc:field), limit,
// offset, after. It answers a JSON array, as Backstage does; when a limit is given and more
// entities follow, a Link header <…&after=…>; rel="next" points at the next page.
func (a *API) getEntities(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	filters, err := ParseFilters(q["filter"])
	if err != nil {
		bad(w, r, "%v", err)
		return
	}
	limit, err := httpserver.QueryInt(r, "limit", 0, 1, 100000)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	offset, err := httpserver.QueryInt(r, "offset", 0, 0, 1<<30)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	if after, ok := q["after"]; ok {
		var c afterCursor
		if err := decodeBase64JSON(after[0], &c); err != nil || c.Limit <= 0 || c.Limit > 100000 || c.Offset < 0 || c.Offset > 1<<30 {
			bad(w, r, "malformed after cursor; use the one of a Link header of a previous page")
			return
		}
		limit, offset = c.Limit, c.Offset
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
	page, err := a.store.Page(r.Context(), Query{Filters: filters, Order: order, Limit: limit, Offset: offset, SkipTotal: true})
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	if page.More {
		next := r.URL.Query()
		next.Del("offset")
		next.Set("after", encodeBase64JSON(afterCursor{Limit: limit, Offset: offset + limit}))
		w.Header().Set("Link", "<"+r.URL.Path+"?"+next.Encode()+`>; rel="next"`)
	}
	writeProjected(w, r, http.StatusOK, page.Entities, fields(r), func(items []any) any { return items })
}

func encodeBase64JSON(v any) string {
	b, _ := json.Marshal(v)
	return base64.StdEncoding.EncodeToString(b)
}

func decodeBase64JSON(s string, v any) error {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// cursor carries a by-query request to its next and previous pages: the query, the count of
// its first page, and a keyset to read after or before. It is base64(JSON), as Backstage's;
// Query (a filter predicate) is left out of it unless the query has one, since newer clients
// continue a cursor with a "query" key through POST /entities/by-query.
type cursor struct {
	Filter     []string        `json:"filter,omitempty"`
	Query      json.RawMessage `json:"query,omitempty"`
	OrderField string          `json:"orderField,omitempty"`
	Desc       bool            `json:"desc,omitempty"`
	Term       string          `json:"term,omitempty"`
	TermFields []string        `json:"termFields,omitempty"`
	TotalItems int             `json:"totalItems"`
	// First is the keyset of the first entity of the first page: a page starting there has
	// no previous page.
	First  *Keyset `json:"first,omitempty"`
	After  *Keyset `json:"after,omitempty"`
	Before *Keyset `json:"before,omitempty"`
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	if s == "" || decodeBase64JSON(s, &c) != nil || (c.After == nil && c.Before == nil) {
		return cursor{}, errors.New("malformed cursor; use the nextCursor or prevCursor of a previous page")
	}
	return c, nil
}

// pageRequest is a by-query request, from the query string (GET) or the body (POST).
type pageRequest struct {
	c         cursor
	resumed   bool // c came from the request's cursor
	limit     int
	offset    int
	skipTotal bool
	fields    []string
}

// runQuery answers a by-query request: {items, totalItems, pageInfo: {nextCursor, prevCursor}}.
func (a *API) runQuery(w http.ResponseWriter, r *http.Request, req pageRequest) {
	c := req.c
	q := Query{FullTextTerm: c.Term, FullTextFields: c.TermFields, Limit: req.limit, After: c.After, Before: c.Before}
	var err error
	if q.Filters, err = ParseFilters(c.Filter); err != nil {
		bad(w, r, "%v", err)
		return
	}
	if q.Predicate, err = optionalPredicate(c.Query); err != nil {
		bad(w, r, "%v", err)
		return
	}
	if c.OrderField != "" {
		q.Order = []Order{{Field: c.OrderField, Desc: c.Desc}}
	}
	if !req.resumed {
		q.Offset, q.SkipTotal = req.offset, req.skipTotal
	} else {
		q.SkipTotal = true
	}
	if req.limit == 0 { // nothing but the count
		q.Limit, q.After, q.Before = 1, nil, nil
	}
	page, err := a.store.Page(r.Context(), q)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	if !req.resumed {
		c.TotalItems = page.Total
	}
	info := map[string]string{}
	if req.limit == 0 {
		page.Entities, page.Keys = nil, nil
	}
	if n := len(page.Keys); n > 0 {
		if !req.resumed && q.Offset == 0 {
			c.First = &page.Keys[0]
		}
		backward := c.Before != nil
		if page.More || backward {
			next := c
			next.After, next.Before = &page.Keys[n-1], nil
			info["nextCursor"] = encodeBase64JSON(next)
		}
		if (backward && page.More) || (!backward && (c.First == nil || page.Keys[0] != *c.First)) {
			prev := c
			prev.After, prev.Before = nil, &page.Keys[0]
			info["prevCursor"] = encodeBase64JSON(prev)
		}
	}
	writeProjected(w, r, http.StatusOK, page.Entities, req.fields, func(items []any) any {
		return map[string]any{"items": items, "totalItems": c.TotalItems, "pageInfo": info}
	})
}

// queryEntities is GET /entities/by-query: filter, orderField (field,asc|desc; the first
// applies), fullTextFilterTerm, fullTextFilterFields, limit (default 20), offset (first page),
// totalItems (include|exclude), fields; or cursor with limit and fields.
func (a *API) queryEntities(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := pageRequest{fields: fields(r)}
	var err error
	if req.limit, err = httpserver.QueryInt(r, "limit", 20, 0, 10000); err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	if raw, ok := q["cursor"]; ok {
		if req.c, err = decodeCursor(raw[0]); err != nil {
			bad(w, r, "%v", err)
			return
		}
		req.resumed = true
		a.runQuery(w, r, req)
		return
	}
	if req.offset, err = httpserver.QueryInt(r, "offset", 0, 0, 1<<30); err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	if req.skipTotal, err = totalItems(q.Get("totalItems")); err != nil {
		bad(w, r, "%v", err)
		return
	}
	req.c = cursor{Filter: q["filter"], Term: strings.TrimSpace(q.Get("fullTextFilterTerm")), TermFields: splitAll(q["fullTextFilterFields"])}
	if of := q["orderField"]; len(of) > 0 { // as in Backstage, only the first order field applies
		field, dir, _ := strings.Cut(of[0], ",")
		if field == "" || (dir != "" && dir != "asc" && dir != "desc") {
			bad(w, r, "orderField %q must be <field>,asc or <field>,desc", of[0])
			return
		}
		req.c.OrderField, req.c.Desc = field, dir == "desc"
	}
	a.runQuery(w, r, req)
}

// totalItems reads the totalItems parameter: include (the default) or exclude.
func totalItems(v string) (skip bool, err error) {
	switch v {
	case "", "include":
		return false, nil
	case "exclude":
		return true, nil
	}
	return false, fmt.Errorf("totalItems %q must be include or exclude", v)
}

// queryEntitiesByPredicate is POST /entities/by-query, newer Backstage versions' form:
// {query, orderBy: [{field, order}], fullTextFilter: {term, fields}, limit, offset,
// totalItems, fields}, or {cursor, limit, fields}.
func (a *API) queryEntitiesByPredicate(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Cursor  *string         `json:"cursor"`
		Limit   *int            `json:"limit"`
		Offset  int             `json:"offset"`
		Query   json.RawMessage `json:"query"`
		OrderBy []struct {
			Field string `json:"field"`
			Order string `json:"order"`
		} `json:"orderBy"`
		FullTextFilter *struct {
			Term   string   `json:"term"`
			Fields []string `json:"fields"`
		} `json:"fullTextFilter"`
		Fields     []string `json:"fields"`
		TotalItems string   `json:"totalItems"`
	}
	if !decodeBody(w, r, &body, `{"query": {...}, "limit": 20}`) {
		return
	}
	req := pageRequest{limit: 20, offset: body.Offset, fields: body.Fields}
	if body.Limit != nil {
		if *body.Limit < 0 || *body.Limit > 10000 {
			bad(w, r, "limit must be a number from 0 to 10000")
			return
		}
		req.limit = *body.Limit
	}
	if body.Cursor != nil {
		var err error
		if req.c, err = decodeCursor(*body.Cursor); err != nil {
			bad(w, r, "%v", err)
			return
		}
		req.resumed = true
		a.runQuery(w, r, req)
		return
	}
	var err error
	if req.skipTotal, err = totalItems(body.TotalItems); err != nil {
		bad(w, r, "%v", err)
		return
	}
	if body.Offset < 0 {
		bad(w, r, "offset must not be negative")
		return
	}
	if p, err := optionalPredicate(body.Query); err != nil {
		bad(w, r, "%v", err)
		return
	} else if p != nil {
		req.c.Query = body.Query
	}
	if len(body.OrderBy) > 0 { // only the first order field applies, as on GET
		o := body.OrderBy[0]
		if o.Field == "" || (o.Order != "" && o.Order != "asc" && o.Order != "desc") {
			bad(w, r, "orderBy[0] must be {\"field\": <field>, \"order\": \"asc\" or \"desc\"}")
			return
		}
		req.c.OrderField, req.c.Desc = o.Field, o.Order == "desc"
	}
	if f := body.FullTextFilter; f != nil {
		req.c.Term, req.c.TermFields = strings.TrimSpace(f.Term), f.Fields
	}
	a.runQuery(w, r, req)
}

// optionalPredicate parses a body's query: nil when there is none.
func optionalPredicate(raw json.RawMessage) (*Predicate, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	p, err := ParsePredicate(raw)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// decodeBody decodes a JSON object body of at most 4 MiB, or answers 400 naming the shape
// expected.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, shape string) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<20)).Decode(v); err != nil {
		bad(w, r, "the body must be JSON %s: %v", shape, err)
		return false
	}
	return true
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

// byRefs is POST /entities/by-refs {entityRefs, fields, query} (?filter=…): {items} in
// request order, null for refs that are unknown or do not match the filters and the query (a
// filter predicate, as newer Backstage versions send it).
func (a *API) byRefs(w http.ResponseWriter, r *http.Request) {
	var body struct {
		EntityRefs []string        `json:"entityRefs"`
		Fields     []string        `json:"fields"`
		Query      json.RawMessage `json:"query"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<20)).Decode(&body); err != nil || body.EntityRefs == nil {
		bad(w, r, "the body must be JSON {\"entityRefs\": [...], \"fields\": [...]}")
		return
	}
	var q Query
	var err error
	if q.Filters, err = ParseFilters(r.URL.Query()["filter"]); err != nil {
		bad(w, r, "%v", err)
		return
	}
	if q.Predicate, err = optionalPredicate(body.Query); err != nil {
		bad(w, r, "%v", err)
		return
	}
	found, err := a.store.GetByRefs(r.Context(), body.EntityRefs, q)
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
	ref := pathRef(r)
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

// deleteByUID is DELETE /entities/by-uid/{uid}: 204, also when no entity has the uid (as
// Backstage answers: the entity is gone either way).
func (a *API) deleteByUID(w http.ResponseWriter, r *http.Request) {
	err := a.store.DeleteByUID(r.Context(), r.PathValue("uid"))
	if errors.Is(err, ErrNotFound) {
		err = nil
	}
	respond(w, r, http.StatusNoContent, nil, err, "")
}

// facets is GET /entity-facets?facet=…&filter=…: {facets: {field: [{value, count}]}}.
func (a *API) facets(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	filters, err := ParseFilters(q["filter"])
	if err != nil {
		bad(w, r, "%v", err)
		return
	}
	a.writeFacets(w, r, q["facet"], Query{Filters: filters})
}

// facetsByPredicate is POST /entity-facets {facets, query}, newer Backstage versions' form.
func (a *API) facetsByPredicate(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Facets []string        `json:"facets"`
		Query  json.RawMessage `json:"query"`
	}
	if !decodeBody(w, r, &body, `{"facets": ["kind"], "query": {...}}`) {
		return
	}
	var q Query
	var err error
	if q.Predicate, err = optionalPredicate(body.Query); err != nil {
		bad(w, r, "%v", err)
		return
	}
	a.writeFacets(w, r, body.Facets, q)
}

func (a *API) writeFacets(w http.ResponseWriter, r *http.Request, facets []string, q Query) {
	if len(facets) == 0 {
		bad(w, r, "give at least one facet, e.g. facet=kind")
		return
	}
	out, err := a.store.Facets(r.Context(), facets, q)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, map[string]any{"facets": out})
}

// pathRef is the entity ref of a route's kind, namespace and name.
func pathRef(r *http.Request) EntityRef {
	return EntityRef{Kind: r.PathValue("kind"), Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}
}

// ancestry is GET /entities/by-name/{kind}/{namespace}/{name}/ancestry:
// {rootEntityRef, items: [{entity, parentEntityRefs}]}.
func (a *API) ancestry(w http.ResponseWriter, r *http.Request) {
	ref := pathRef(r)
	out, err := a.locations.Ancestry(r.Context(), ref)
	respond(w, r, http.StatusOK, out, err, "no entity "+ref.String())
}

// refresh is POST /refresh {entityRef}: reads the entity's location again now; 200 with no
// body, as Backstage answers.
func (a *API) refresh(w http.ResponseWriter, r *http.Request) {
	var body struct {
		EntityRef string `json:"entityRef"`
	}
	if !decodeBody(w, r, &body, `{"entityRef": "component:default/name"}`) {
		return
	}
	ref, err := ParseRef(body.EntityRef, "", DefaultNamespace)
	if err != nil {
		bad(w, r, "entityRef: %v", err)
		return
	}
	err = a.locations.Refresh(r.Context(), ref)
	switch {
	case errors.Is(err, ErrNotFound):
		httpserver.WriteError(w, r, httpserver.Errorf(http.StatusNotFound, "entity %s not found", ref))
	case errors.Is(err, ErrUnreadable):
		httpserver.WriteError(w, r, httpserver.Errorf(http.StatusBadGateway, "refresh %s: %v", ref, err))
	case isLocationProblem(err):
		bad(w, r, "refresh %s: %v", ref, err)
	case err != nil:
		httpserver.WriteError(w, r, err)
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// serializedError is an error as Backstage's serializeError writes it.
type serializedError struct {
	Name    string `json:"name"`
	Message string `json:"message"`
}

// validateEntity is POST /validate-entity {entity, location}: 200 with no body when the
// entity is valid, else 400 {errors: [{name, message}]} (not the usual error body, as in
// Backstage).
func (a *API) validateEntity(w http.ResponseWriter, r *http.Request) {
	invalid := func(name, format string, args ...any) {
		httpserver.WriteJSON(w, http.StatusBadRequest, map[string]any{"errors": []serializedError{{Name: name, Message: fmt.Sprintf(format, args...)}}})
	}
	var body struct {
		Entity   json.RawMessage `json:"entity"`
		Location *string         `json:"location"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<20)).Decode(&body); err != nil {
		invalid("InputError", "the body must be JSON {\"entity\": {...}, \"location\": \"url:https://…\"}: %v", err)
		return
	}
	if body.Location == nil || len(body.Entity) == 0 {
		invalid("InputError", "the body must be JSON {\"entity\": {...}, \"location\": \"url:https://…\"}")
		return
	}
	var envelope struct {
		APIVersion *string `json:"apiVersion"`
		Kind       *string `json:"kind"`
		Metadata   *struct {
			Name *string `json:"name"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(body.Entity, &envelope); err != nil {
		invalid("TypeError", "the entity must be an object with apiVersion, kind and metadata: %v", err)
		return
	}
	switch {
	case envelope.APIVersion == nil:
		invalid("TypeError", "/apiVersion is required")
		return
	case envelope.Kind == nil:
		invalid("TypeError", "/kind is required")
		return
	case envelope.Metadata == nil || envelope.Metadata.Name == nil:
		invalid("TypeError", "/metadata must have required property 'name'")
		return
	}
	typ, target, ok := strings.Cut(*body.Location, ":")
	if !ok || typ == "" || target == "" {
		invalid("TypeError", "unable to parse location ref %q, expected '<type>:<target>', e.g. 'url:https://host/path'", *body.Location)
		return
	}
	if typ != LocationURL {
		invalid("TypeError", "invalid location ref %s, only 'url:<target>' is supported, e.g. url:https://host/path", *body.Location)
		return
	}
	var e Entity
	if err := json.Unmarshal(body.Entity, &e); err != nil {
		invalid("TypeError", "the entity does not have Backstage's shape: %v", err)
		return
	}
	if _, err := a.store.prepare(DeferredEntity{Entity: e, LocationKey: *body.Location}); err != nil {
		invalid("InputError", "%v", err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// analyzeLocation is POST /analyze-location {location: {type, target}, catalogFilename}:
// {existingEntityFiles: [{location, isRegistered, entity}], generateEntities: [{entity,
// fields}]}.
func (a *API) analyzeLocation(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Location *struct {
			Type   string `json:"type"`
			Target string `json:"target"`
		} `json:"location"`
		CatalogFilename string `json:"catalogFilename"`
		CatalogFileName string `json:"catalogFileName"`
	}
	if !decodeBody(w, r, &body, `{"location": {"type": "url", "target": "https://github.com/org/repo"}}`) {
		return
	}
	if body.Location == nil || body.Location.Target == "" {
		bad(w, r, "location.target is required, e.g. {\"location\": {\"type\": \"url\", \"target\": \"https://github.com/org/repo\"}}")
		return
	}
	filename := cmp.Or(body.CatalogFilename, body.CatalogFileName, DefaultCatalogFilename)
	out, err := a.locations.Analyze(r.Context(), body.Location.Target, filename)
	switch {
	case errors.Is(err, ErrNotURL), errors.Is(err, ErrCatalogFilename):
		bad(w, r, "%v", err)
	case errors.Is(err, ErrUnreadable), errors.Is(err, ErrInvalidEntities):
		httpserver.WriteError(w, r, httpserver.Errorf(http.StatusBadGateway, "analyze %s: %v", body.Location.Target, err))
	default:
		if err != nil {
			httpserver.WriteError(w, r, err)
			return
		}
		httpserver.WriteJSON(w, http.StatusOK, out)
	}
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

// locationInput is the body of POST /locations and PUT /locations/{id}.
type locationInput struct {
	Type   string `json:"type"`
	Target string `json:"target"`
}

func readLocationInput(w http.ResponseWriter, r *http.Request) (locationInput, bool) {
	var body locationInput
	if !decodeBody(w, r, &body, `{"type": "url", "target": "https://…"}`) {
		return body, false
	}
	if body.Target == "" {
		bad(w, r, "the body must be JSON {\"type\": \"url\", \"target\": \"https://…\"}: target is missing")
		return body, false
	}
	if body.Type == "" {
		body.Type = LocationURL
	}
	return body, true
}

// writeLocationError answers a location operation's error with its status.
func writeLocationError(w http.ResponseWriter, r *http.Request, loc Location, err error) {
	switch {
	case errors.Is(err, ErrLocationExists):
		httpserver.WriteError(w, r, httpserver.Errorf(http.StatusConflict, "location %s:%s already exists (id %s)", loc.Type, loc.Target, loc.ID))
	case errors.Is(err, ErrNotFound):
		httpserver.WriteError(w, r, httpserver.Errorf(http.StatusNotFound, "found no location with id %s", r.PathValue("id")))
	case errors.Is(err, ErrEntitiesConflict), errors.Is(err, ErrLocationConfigured):
		httpserver.WriteError(w, r, httpserver.Errorf(http.StatusConflict, "%v", err))
	case isLocationProblem(err):
		bad(w, r, "%v", err)
	default: // the database: logged, and answered 500 without its text
		httpserver.WriteError(w, r, err)
	}
}

// isLocationProblem reports whether err is about the location given: its type, its host, its
// data or its entities (a 400), rather than Stagebus's own failure.
func isLocationProblem(err error) bool {
	return errors.Is(err, ErrLocationType) || errors.Is(err, ErrNoReader) || errors.Is(err, ErrUnreadable) || errors.Is(err, ErrInvalidEntities)
}

// addLocation is POST /locations {type, target}: 201 {location, entities}; with
// ?dryRun=true nothing is stored, and the answer is {exists, location (id url:<target>),
// entities}, as Backstage's.
func (a *API) addLocation(w http.ResponseWriter, r *http.Request) {
	body, ok := readLocationInput(w, r)
	if !ok {
		return
	}
	if dry, _ := strconv.ParseBool(r.URL.Query().Get("dryRun")); dry {
		p, err := a.locations.Check(r.Context(), body.Type, body.Target)
		if err != nil {
			writeLocationError(w, r, Location{}, err)
			return
		}
		httpserver.WriteJSON(w, http.StatusCreated, map[string]any{"exists": p.Exists, "location": p.Location, "entities": p.Entities})
		return
	}
	loc, entities, err := a.locations.Add(r.Context(), body.Type, body.Target)
	if err != nil {
		writeLocationError(w, r, loc, err)
		return
	}
	if entities == nil {
		entities = []Entity{}
	}
	httpserver.WriteJSON(w, http.StatusCreated, map[string]any{"location": loc, "entities": entities})
}

// updateLocation is PUT /locations/{id} {type, target}: 200 with the location.
func (a *API) updateLocation(w http.ResponseWriter, r *http.Request) {
	body, ok := readLocationInput(w, r)
	if !ok {
		return
	}
	loc, err := a.locations.Update(r.Context(), r.PathValue("id"), body.Type, body.Target)
	if err != nil {
		writeLocationError(w, r, loc, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, loc)
}

// locationsCursor carries POST /locations/by-query to its next page.
type locationsCursor struct {
	Limit   int             `json:"limit"`
	AfterID string          `json:"afterId"`
	Query   json.RawMessage `json:"query,omitempty"`
}

// queryLocations is POST /locations/by-query {limit, query} or {cursor}: {items, totalItems,
// pageInfo: {nextCursor}}, in id order. The query is a filter predicate on id, type, target
// and entityRef.
func (a *API) queryLocations(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Cursor *string         `json:"cursor"`
		Limit  *int            `json:"limit"`
		Query  json.RawMessage `json:"query"`
	}
	if !decodeBody(w, r, &body, `{"limit": 100, "query": {...}}`) {
		return
	}
	c := locationsCursor{Limit: 1000, Query: body.Query}
	if body.Cursor != nil {
		if decodeBase64JSON(*body.Cursor, &c) != nil || c.AfterID == "" {
			bad(w, r, "malformed cursor; use the nextCursor of a previous page")
			return
		}
	} else if body.Limit != nil {
		c.Limit = *body.Limit
	}
	if c.Limit < 1 {
		bad(w, r, "limit must be a positive integer")
		return
	}
	pred, err := optionalPredicate(c.Query)
	if err != nil {
		bad(w, r, "%v", err)
		return
	}
	if pred == nil {
		c.Query, pred = nil, &Predicate{}
	} else {
		for _, k := range pred.Keys() {
			if k != "id" && k != "type" && k != "target" && k != "entityref" {
				bad(w, r, "invalid filter predicate: the key %q is not one of id, type, target and entityRef", k)
				return
			}
		}
	}
	locs, err := a.locations.List(r.Context())
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	var match []Location
	for _, l := range locs {
		if pred.Matches(map[string]string{"id": l.ID, "type": l.Type, "target": l.Target, "entityref": l.EntityRef}) {
			match = append(match, l)
		}
	}
	slices.SortFunc(match, func(x, y Location) int { return strings.Compare(x.ID, y.ID) })
	items := []Location{}
	for _, l := range match {
		if l.ID > c.AfterID {
			items = append(items, l)
		}
	}
	info := map[string]string{}
	if len(items) > c.Limit {
		items = items[:c.Limit]
		next := c
		next.AfterID = items[len(items)-1].ID
		info["nextCursor"] = encodeBase64JSON(next)
	}
	httpserver.WriteJSON(w, http.StatusOK, map[string]any{"items": items, "totalItems": len(match), "pageInfo": info})
}

// locationByEntity is GET /locations/by-entity/{kind}/{namespace}/{name}: the registered
// location the entity originates from.
func (a *API) locationByEntity(w http.ResponseWriter, r *http.Request) {
	ref := pathRef(r)
	loc, err := a.locations.ByEntity(r.Context(), ref)
	respond(w, r, http.StatusOK, loc, err, "found no registered location for entity "+ref.String())
}

func (a *API) getLocation(w http.ResponseWriter, r *http.Request) {
	loc, err := a.locations.Get(r.Context(), r.PathValue("id"))
	respond(w, r, http.StatusOK, loc, err, "found no location with id "+r.PathValue("id"))
}

func (a *API) deleteLocation(w http.ResponseWriter, r *http.Request) {
	err := a.locations.Delete(r.Context(), r.PathValue("id"))
	respond(w, r, http.StatusNoContent, nil, err, "found no location with id "+r.PathValue("id"))
}
