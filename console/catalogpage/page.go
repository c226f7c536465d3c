package catalogpage

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/stagebus/stagebus/catalog"
	"github.com/stagebus/stagebus/console"
	"github.com/stagebus/stagebus/console/i18n"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
	"github.com/stagebus/stagebus/httpserver"
)

var (
	//go:embed templates/*.html
	templates embed.FS
	//go:embed messages/*.yaml
	messages embed.FS
)

// Messages are the pages' en.yaml and de.yaml.
var Messages = i18n.Source{Name: "console/catalogpage", FS: i18n.Sub(messages, "messages")}

const (
	// pageSize is how many entities the list shows.
	pageSize = 50
	// factShown bounds a spec value shown on an entity's page (an API's definition, say).
	factShown = 64 << 10
	// entityTopics is the prefix of the catalog's change stream.
	entityTopics = "catalog.entity."
	// Facets of the list's selects.
	facetKind  = "kind"
	facetOwner = "spec.owner"
)

// searchFields are what the list's text searches.
var searchFields = []string{"metadata.name", "metadata.title", "metadata.description", "spec.profile.displayname"}

// Catalog is what the pages read of the catalog; *catalog.Store implements it.
type Catalog interface {
	Page(ctx context.Context, q catalog.Query) (catalog.Page, error)
	Facets(ctx context.Context, facets []string, q catalog.Query) (map[string][]catalog.FacetCount, error)
	GetByRef(ctx context.Context, ref catalog.EntityRef) (catalog.Entity, error)
}

var _ Catalog = (*catalog.Store)(nil)

// page serves the Catalog pages.
type page struct {
	catalog Catalog
}

// entityPath is the entity page of ref, in the shape of Backstage's frontend:
// /catalog/<namespace>/<kind>/<name>, kind and namespace lower-cased.
func entityPath(ref catalog.EntityRef) string {
	return "/catalog/" + url.PathEscape(strings.ToLower(ref.Namespace)) + "/" + url.PathEscape(strings.ToLower(ref.Kind)) + "/" + url.PathEscape(ref.Name)
}

// refPath is the entity page of a ref in text form, "" when it cannot be parsed.
func refPath(ref, defaultKind, namespace string) string {
	r, err := catalog.ParseRef(ref, defaultKind, namespace)
	if err != nil {
		return ""
	}
	return entityPath(r)
}

// option is a choice of a filter's select.
type option struct {
	Value    string
	Count    int
	Selected bool
}

// row is an entity of the list.
type row struct {
	Name, Title, Href, Kind, Type, Owner, OwnerHref, Description string
}

// listData is the list's data.
type listData struct {
	Kinds, Owners     []option
	Kind, Owner, Text string
	Rows              []row
	Total             int
	Filtered          bool
	Previous, Next    string
}

// options turns a facet's counts into a select's options, keeping a chosen value that no
// entity has (so that the form shows what was asked).
func options(counts []catalog.FacetCount, chosen string) []option {
	out := make([]option, 0, len(counts)+1)
	found := chosen == ""
	for _, c := range counts {
		sel := chosen != "" && strings.EqualFold(c.Value, chosen)
		found = found || sel
		out = append(out, option{Value: c.Value, Count: c.Count, Selected: sel})
	}
	if !found {
		out = append(out, option{Value: chosen, Selected: true})
	}
	sort.SliceStable(out, func(i, j int) bool { return strings.ToLower(out[i].Value) < strings.ToLower(out[j].Value) })
	return out
}

// cursor parses the list's after or before parameter: the ref of the entity to page from.
// The list is ordered by name, then ref, so the keyset is the ref's name and the ref.
func cursor(s string) (*catalog.Keyset, error) {
	if s == "" {
		return nil, nil
	}
	ref, err := catalog.ParseRef(s, "", catalog.DefaultNamespace)
	if err != nil {
		return nil, httpserver.Errorf(http.StatusBadRequest, "the list's position %q is not an entity ref: use the list's own links", s)
	}
	name := strings.ToLower(ref.Name)
	return &catalog.Keyset{Value: &name, Ref: ref.String()}, nil
}

func (p *page) list(w http.ResponseWriter, r *http.Request, v *console.View) error {
	ctx := r.Context()
	q := r.URL.Query()
	d := listData{Kind: strings.TrimSpace(q.Get("kind")), Owner: strings.TrimSpace(q.Get("owner")), Text: strings.TrimSpace(q.Get("q"))}
	after, err := cursor(q.Get("after"))
	if err != nil {
		return err
	}
	before, err := cursor(q.Get("before"))
	if err != nil {
		return err
	}
	if after != nil && before != nil {
		return httpserver.Errorf(http.StatusBadRequest, "after and before page in opposite directions: give one")
	}
	var set catalog.FilterSet
	if d.Kind != "" {
		set = append(set, catalog.Condition{Key: facetKind, Values: []string{strings.ToLower(d.Kind)}})
	}
	if d.Owner != "" {
		set = append(set, catalog.Condition{Key: facetOwner, Values: []string{strings.ToLower(d.Owner)}})
	}
	query := catalog.Query{Order: []catalog.Order{{Field: "metadata.name"}}, FullTextTerm: d.Text, FullTextFields: searchFields,
		Limit: pageSize, After: after, Before: before}
	if len(set) > 0 {
		query.Filters = []catalog.FilterSet{set}
	}
	d.Filtered = len(set) > 0 || d.Text != ""
	facets, err := p.catalog.Facets(ctx, []string{facetKind, facetOwner}, catalog.Query{})
	if err != nil {
		return err
	}
	d.Kinds, d.Owners = options(facets[facetKind], d.Kind), options(facets[facetOwner], d.Owner)
	res, err := p.catalog.Page(ctx, query)
	if err != nil {
		return err
	}
	d.Total = res.Total
	for _, e := range res.Entities {
		ref := e.Ref()
		rw := row{Name: e.Metadata.Name, Title: e.Metadata.Title, Href: entityPath(ref), Kind: e.Kind, Description: e.Metadata.Description}
		rw.Type, _ = e.Spec["type"].(string)
		rw.Owner, _ = e.Spec["owner"].(string)
		if rw.Owner != "" {
			rw.OwnerHref = refPath(rw.Owner, "group", ref.Namespace)
		}
		d.Rows = append(d.Rows, rw)
	}
	link := func(dir string, e catalog.Entity) string {
		l := url.Values{dir: {e.Ref().String()}}
		for name, val := range map[string]string{"kind": d.Kind, "owner": d.Owner, "q": d.Text} {
			if val != "" {
				l.Set(name, val)
			}
		}
		return "/catalog?" + l.Encode()
	}
	if n := len(res.Entities); n > 0 {
		// More says whether entities follow in the direction read; the other way, there are
		// some when the page was reached from them.
		if (before == nil && res.More) || before != nil {
			d.Next = link("after", res.Entities[n-1])
		}
		if (before != nil && res.More) || after != nil {
			d.Previous = link("before", res.Entities[0])
		}
	}
	return v.Render(w, http.StatusOK, "catalog/list", d)
}

// fact is a spec field shown on an entity's page.
type fact struct {
	Name  string
	Text  string
	Block bool // several lines, shown preformatted
	Code  bool // JSON of a structured value
	Cut   bool // only the first factShown bytes are shown
}

// place is a location annotation: a link when it is a url: location.
type place struct {
	Text, Href string
}

// target is an entity a relation points to.
type target struct {
	Ref, Href string
}

// relGroup is the relations of one type.
type relGroup struct {
	Type, Label string
	Targets     []target
}

// link is an entry of metadata.links that can be followed.
type link struct {
	Title, Href string
}

// entityData is an entity's page.
type entityData struct {
	Entity      catalog.Entity
	Ref         string
	Heading     string
	Labels      []console.Pair
	Annotations []console.Pair
	Links       []link
	Spec        []fact
	ManagedBy   *place
	Source      *place
	Relations   []relGroup
	Graph       *graph
	Live        string
}

func (p *page) entity(w http.ResponseWriter, r *http.Request, v *console.View) error {
	ref := catalog.EntityRef{Kind: r.PathValue("kind"), Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}
	e, err := p.catalog.GetByRef(r.Context(), ref)
	if errors.Is(err, catalog.ErrNotFound) {
		return httpserver.Errorf(http.StatusNotFound, "no entity %s in the catalog", ref)
	}
	if err != nil {
		return err
	}
	d := entityData{Entity: e, Ref: e.Ref().String(), Heading: e.Metadata.Name, Live: "entity:" + e.Ref().String()}
	if e.Metadata.Title != "" {
		d.Heading = e.Metadata.Title
	}
	d.Labels, d.Annotations = console.SortedPairs(e.Metadata.Labels), console.SortedPairs(e.Metadata.Annotations)
	for _, l := range e.Metadata.Links {
		if href := webURL(l.URL); href != "" {
			title := l.Title
			if title == "" {
				title = l.URL
			}
			d.Links = append(d.Links, link{Title: title, Href: href})
		}
	}
	d.Spec = facts(e.Spec)
	d.ManagedBy = locationPlace(e.Metadata.Annotations[catalog.AnnotationManagedByLocation])
	d.Source = locationPlace(e.Metadata.Annotations[catalog.AnnotationSourceLocation])
	label := func(typ string) string { return relationLabel(v, typ) }
	d.Relations = groups(e.Relations, label)
	if d.Graph, err = entityGraph(v, e, label); err != nil {
		return err
	}
	return v.Render(w, http.StatusOK, "catalog/entity", d)
}

// relationLabel is the name of a relation type in the page's language; a type the messages
// do not know is shown as it is.
func relationLabel(v *console.View, typ string) string {
	if s, err := v.T("catalog.rel." + typ); err == nil {
		return s
	}
	return typ
}

// groups are an entity's relations by type, each target linked to its page.
func groups(rels []catalog.Relation, label func(string) string) []relGroup {
	var out []relGroup
	for _, rel := range rels { // the store sorts them by type, then target
		if len(out) == 0 || out[len(out)-1].Type != rel.Type {
			out = append(out, relGroup{Type: rel.Type, Label: label(rel.Type)})
		}
		g := &out[len(out)-1]
		g.Targets = append(g.Targets, target{Ref: rel.TargetRef, Href: refPath(rel.TargetRef, "", catalog.DefaultNamespace)})
	}
	return out
}

// webURL returns s when it is an http(s) URL, else "".
func webURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return s
}

// locationPlace shows a location ref (type:target), linking a url: target; nil for "".
func locationPlace(ref string) *place {
	if ref == "" {
		return nil
	}
	p := &place{Text: ref}
	if t, ok := strings.CutPrefix(ref, catalog.LocationURL+":"); ok {
		p.Href = webURL(t)
	}
	return p
}

// facts shows spec fields in name order: text as it is, lists of text joined, the rest as
// JSON.
func facts(spec map[string]any) []fact {
	out := make([]fact, 0, len(spec))
	for name, val := range spec {
		f := fact{Name: name}
		switch t := val.(type) {
		case string:
			f.Text, f.Block = t, strings.Contains(strings.TrimRight(t, "\n"), "\n")
		case float64, bool:
			f.Text = fmt.Sprint(t)
		case []any:
			if texts, ok := scalars(t); ok {
				f.Text = strings.Join(texts, ", ")
				break
			}
			f.Text, f.Code = compactJSON(t), true
		default:
			f.Text, f.Code = compactJSON(t), true
		}
		if len(f.Text) > factShown {
			cut := factShown
			for cut > 0 && !utf8.RuneStart(f.Text[cut]) {
				cut--
			}
			f.Text, f.Cut = f.Text[:cut], true
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func scalars(list []any) ([]string, bool) {
	out := make([]string, 0, len(list))
	for _, it := range list {
		switch t := it.(type) {
		case string:
			out = append(out, t)
		case float64, bool:
			out = append(out, fmt.Sprint(t))
		default:
			return nil, false
		}
	}
	return out, true
}

func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// changedData is the banner of a changed entity.
type changedData struct {
	Deleted bool
}

// entityLive tells an entity's page that the entity changed: a change event whose key is
// its ref (the catalog keys its change stream by entity ref) shows the banner.
func (p *page) entityLive(_ context.Context, v *console.View, arg string, entries []sqlbus.Entry, _ int64) ([]console.Update, error) {
	ref, err := catalog.ParseRef(arg, "", catalog.DefaultNamespace)
	if err != nil {
		return nil, nil
	}
	want := ref.String()
	var changed, deleted bool
	for _, e := range entries {
		if strings.HasPrefix(e.Topic, entityTopics) && strings.EqualFold(e.Key, want) {
			changed, deleted = true, e.Topic == catalog.TopicEntityDeleted // the last change counts
		}
	}
	if !changed {
		return nil, nil
	}
	announce := "catalog.changed"
	if deleted {
		announce = "catalog.deleted"
	}
	return banner(v, "catalog/entity", "#entity-changed", announce, changedData{Deleted: deleted})
}

// listLive tells the list that the catalog changed.
func (p *page) listLive(_ context.Context, v *console.View, _ string, entries []sqlbus.Entry, _ int64) ([]console.Update, error) {
	for _, e := range entries {
		if strings.HasPrefix(e.Topic, entityTopics) {
			return banner(v, "catalog/list", "#catalog-changed", "catalog.changed_list", nil)
		}
	}
	return nil, nil
}

// banner fills the banner sel with the fragment "changed" of page and shows it, announcing
// the message announce.
func banner(v *console.View, page, sel, announce string, data any) ([]console.Update, error) {
	html, err := v.Fragment(page, "changed", data)
	if err != nil {
		return nil, err
	}
	text, err := v.T(announce)
	if err != nil {
		return nil, err
	}
	return []console.Update{{Target: sel, Show: sel, Position: "replace", HTML: html, Announce: text}}, nil
}
