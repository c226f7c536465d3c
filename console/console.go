package console

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/console/i18n"
	"github.com/stagebus/stagebus/httpserver"
)

// Section is what a page package adds to the console.
type Section struct {
	// Name identifies the section in errors and names its templates: page "list" of section
	// "events" is rendered as "events/list" (the file list.html in Templates).
	Name string
	// Templates holds the section's page files, *.html at its root.
	Templates fs.FS
	// Messages are the section's en.yaml and de.yaml.
	Messages i18n.Source
	// Nav are the section's entries in the navigation.
	Nav []Nav
	// Pages are the section's routes.
	Pages []Page
	// Live are the section's channels of live updates (see [Live]).
	Live []Live
}

// Nav is one entry of the navigation.
type Nav struct {
	Path  string // where it leads
	Label string // message id of its text
	Order int    // position, lowest first
	Admin bool   // shown to admins only
}

// Page is one console route: a page (GET) or a form's action (POST).
type Page struct {
	Method string
	// Path is a net/http pattern path, e.g. /events/{seq}.
	Path string
	// Admin restricts the page to admins (auth.admins); others need a session.
	Admin bool
	// Handler serves the page. An error it returns is shown as an error page: an
	// *httpserver.Error with its status and message, anything else as a 500 (logged).
	Handler func(w http.ResponseWriter, r *http.Request, v *View) error
}

// AsSection annotates a constructor returning a Section (and optionally an error) so that it
// joins the "console.sections" group.
func AsSection(constructor any) any {
	return fx.Annotate(constructor, fx.ResultTags(`group:"console.sections"`))
}

// View is what a handler knows about the person and renders with. It is built per request.
type View struct {
	// Principal is the signed-in caller.
	Principal httpserver.Principal
	// Admin reports whether the caller may use admin pages and actions.
	Admin bool
	// Lang is the page's language tag (en, de).
	Lang string
	// Path is the request's path, for the navigation's current entry.
	Path string
	// URI is the request's path and query, to come back to after a form.
	URI string
	// Nav is the navigation the caller may use.
	Nav []Nav
	// Notice is a message to show once after an action (see [View.Redirect]).
	Notice string

	c   *Console
	loc *i18n.Localizer
	r   *http.Request
}

// T renders a message in the page's language; see i18n.Localizer.T.
func (v *View) T(id string, args ...any) (string, error) { return v.loc.T(id, args...) }

// Localizer returns the page's localizer.
func (v *View) Localizer() *i18n.Localizer { return v.loc }

// Render writes page (section/page) with data inside the layout, with status. The page is
// rendered into a buffer first: a template error is an error page, never half a page.
func (v *View) Render(w http.ResponseWriter, status int, page string, data any) error {
	var buf bytes.Buffer
	if err := v.c.render.execute(&buf, v.Lang, page, "layout", pageData{V: v, D: data}); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// Fragment renders template name of page alone (table rows for a live update, say), with
// data as its dot, and returns the HTML.
func (v *View) Fragment(page, name string, data any) (string, error) {
	var buf bytes.Buffer
	if err := v.c.render.execute(&buf, v.Lang, page, name, data); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// Redirect answers a form's POST with 303 to target (a local path), showing the message
// notice (a message id of the form "notice.…", or "") on the next page.
func (v *View) Redirect(w http.ResponseWriter, target, notice string) {
	if notice != "" {
		sep := "?"
		if strings.Contains(target, "?") {
			sep = "&"
		}
		target += sep + "notice=" + url.QueryEscape(notice)
	}
	http.Redirect(w, v.r, target, http.StatusSeeOther)
}

// pageData is the dot of every template: .V the view, .D the handler's data.
type pageData struct {
	V *View
	D any
}

// Console is the running console.
type Console struct {
	sections []Section
	catalog  *i18n.Catalog
	render   *renderer
	assets   *assets
	auth     Auth
	signin   SignIn
	log      zerolog.Logger
	nav      []Nav
	live     map[string]Live
	tail     Tail
	streams  *liveLimiter
}

// Auth is what the console needs of the auth module (auth.Service).
type Auth interface {
	IsAdmin(p httpserver.Principal) bool
	GuestAllowed() bool
	GuestSignIn(w http.ResponseWriter, r *http.Request) error
}

// SignIn is what the console needs of people's sign-in (signin.Service).
type SignIn interface {
	ProviderIDs() []string
	SignOut(w http.ResponseWriter, r *http.Request, via string) error
}

// Options build a Console.
type Options struct {
	Sections []Section
	Auth     Auth
	SignIn   SignIn
	// Tail is the event history live updates follow.
	Tail Tail
	// MaxStreams caps the open live streams (console.maxStreams); 8 at most per person.
	MaxStreams int
	Logger     zerolog.Logger
}

// New parses every template and message catalog; any problem is an error naming the section
// and file.
func New(o Options) (*Console, error) {
	c := &Console{sections: o.Sections, auth: o.Auth, signin: o.SignIn, log: o.Logger, tail: o.Tail, live: map[string]Live{},
		streams: &liveLimiter{max: o.MaxStreams, perUser: min(8, o.MaxStreams), open: map[string]int{}}}
	c.sections = append([]Section{c.ownSection()}, o.Sections...)
	sources := []i18n.Source{i18n.Messages}
	names := map[string]bool{}
	for _, s := range c.sections {
		if names[s.Name] {
			return nil, fmt.Errorf("console: two sections are named %q", s.Name)
		}
		names[s.Name] = true
		sources = append(sources, s.Messages)
		c.nav = append(c.nav, s.Nav...)
		for _, l := range s.Live {
			if _, dup := c.live[l.Name]; dup || l.Name == "" || strings.ContainsAny(l.Name, ":,") {
				return nil, fmt.Errorf("console: section %s: live channel %q is empty, has : or , or is taken", s.Name, l.Name)
			}
			c.live[l.Name] = l
		}
	}
	slices.SortStableFunc(c.nav, func(a, b Nav) int { return a.Order - b.Order })
	var err error
	if c.catalog, err = i18n.NewCatalog(sources...); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if c.assets, err = newAssets(); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if c.render, err = newRenderer(c.catalog, c.assets, c.sections); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return c, nil
}

// Routes returns the console's own routes and every section's pages.
func (c *Console) Routes() []httpserver.Route {
	out := c.assets.routes()
	for _, s := range c.sections {
		for _, p := range s.Pages {
			policy := httpserver.RequireCredentials
			if p.Admin {
				policy = httpserver.RequireAdmin
			}
			out = append(out, httpserver.Route{Method: p.Method, Path: p.Path, Auth: policy, Page: true, Handler: c.serve(p.Handler)})
		}
	}
	return append(append(out, c.publicRoutes()...), c.liveRoute())
}

// serve runs a page handler with its View and the console's headers.
func (c *Console) serve(h func(http.ResponseWriter, *http.Request, *View) error) http.Handler {
	return securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := c.view(r, httpserver.PrincipalFromContext(r.Context()))
		if err := h(w, r, v); err != nil {
			c.fail(w, r, v, err)
		}
	}))
}

// view builds the View of r for principal p (PrincipalNone on public pages).
func (c *Console) view(r *http.Request, p httpserver.Principal) *View {
	lang := c.language(r)
	v := &View{Principal: p, Lang: lang.String(), Path: r.URL.Path, URI: localPath(r.URL.RequestURI()), c: c, loc: c.catalog.Localizer(lang), r: r}
	if p.Type != httpserver.PrincipalNone {
		v.Admin = c.auth.IsAdmin(p)
		for _, n := range c.nav {
			if !n.Admin || v.Admin {
				v.Nav = append(v.Nav, n)
			}
		}
	}
	if id := r.URL.Query().Get("notice"); strings.HasPrefix(id, "notice.") {
		// Only the console's own notices: a link cannot make the page say anything else.
		if text, err := v.T(id); err == nil {
			v.Notice = text
		}
	}
	return v
}

// errorData is the error page's data.
type errorData struct {
	Status  int
	Message string
}

// fail shows err as an error page.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, v *View, err error) {
	d := errorData{Status: http.StatusInternalServerError}
	var he *httpserver.Error
	if errors.As(err, &he) {
		d.Status, d.Message = he.Status, he.Message
	} else {
		zerolog.Ctx(r.Context()).Error().Err(err).Str("path", r.URL.Path).Msg("console page failed")
	}
	if rerr := v.Render(w, d.Status, "console/error", d); rerr != nil {
		zerolog.Ctx(r.Context()).Error().Err(rerr).Msg("console error page failed")
		http.Error(w, http.StatusText(d.Status), d.Status)
	}
}
