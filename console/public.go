package console

import (
	"embed"
	"io/fs"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/text/language"

	"github.com/stagebus/stagebus/console/i18n"
	"github.com/stagebus/stagebus/httpserver"
)

// LangCookie keeps the language a person chose with the switch; it wins over
// Accept-Language.
const LangCookie = "stagebus-lang"

// contentSecurityPolicy allows the console's own script, style and images only: no inline
// script or style, no plugins, no framing, forms posting to this origin only. The script
// inserts server-rendered HTML through one Trusted Types policy.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; " +
	"require-trusted-types-for 'script'; trusted-types console"

// securityHeaders sets the console's headers on every page it serves.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		h.Set("Vary", "Cookie, Accept-Language")
		next.ServeHTTP(w, r)
	})
}

// language picks the page's language: the switch's cookie, then Accept-Language, then
// English.
func (c *Console) language(r *http.Request) language.Tag {
	var chosen string
	if ck, err := r.Cookie(LangCookie); err == nil {
		chosen = ck.Value
	}
	return c.catalog.Match(chosen, r.Header.Get("Accept-Language"))
}

// localPath returns target when it is a path of this server (with its query), else "/": a
// link cannot send a person elsewhere after signing in or switching language.
func localPath(target string) string {
	if target == "" || !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "//") ||
		strings.ContainsFunc(target, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
		return "/"
	}
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return u.RequestURI()
}

// publicRoutes are the routes open without a session: the sign-in page, guest sign-in and
// the language switch (their POSTs must come from this site: login CSRF), and sign-out.
func (c *Console) publicRoutes() []httpserver.Route {
	sameSite := http.NewCrossOriginProtection()
	public := func(h func(http.ResponseWriter, *http.Request, *View) error) http.Handler {
		return securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			v := c.view(r, httpserver.Principal{Type: httpserver.PrincipalNone})
			if err := h(w, r, v); err != nil {
				c.fail(w, r, v, err)
			}
		}))
	}
	return []httpserver.Route{
		{Method: http.MethodGet, Path: "/signin", Auth: httpserver.Unauthenticated, Page: true, Handler: public(c.signInPage)},
		{Method: http.MethodPost, Path: "/signin/guest", Auth: httpserver.Unauthenticated, Page: true, Handler: securityHeaders(sameSite.Handler(public(c.guestSignIn)))},
		{Method: http.MethodPost, Path: "/locale", Auth: httpserver.Unauthenticated, Page: true, Handler: securityHeaders(sameSite.Handler(public(c.switchLanguage)))},
		{Method: http.MethodPost, Path: "/signout", Auth: httpserver.RequireCredentials, Page: true, Handler: c.serve(c.signOut)},
	}
}

// signInData is the sign-in page's data.
type signInData struct {
	Next      string
	Guest     bool
	Providers []signInProvider
}

type signInProvider struct {
	ID, Start string
}

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request, v *View) error {
	next := localPath(r.URL.Query().Get("next"))
	d := signInData{Next: next, Guest: c.auth.GuestAllowed()}
	for _, id := range c.signin.ProviderIDs() {
		q := url.Values{"flow": {"redirect"}, "redirectUrl": {next}}
		d.Providers = append(d.Providers, signInProvider{ID: id, Start: "/api/auth/" + url.PathEscape(id) + "/start?" + q.Encode()})
	}
	return v.Render(w, http.StatusOK, "console/signin", d)
}

func (c *Console) guestSignIn(w http.ResponseWriter, r *http.Request, v *View) error {
	if err := c.auth.GuestSignIn(w, r); err != nil {
		return err
	}
	http.Redirect(w, r, localPath(r.FormValue("next")), http.StatusSeeOther)
	return nil
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request, v *View) error {
	if err := c.signin.SignOut(w, r, "console"); err != nil {
		return err
	}
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
	return nil
}

// switchLanguage keeps the chosen language in a cookie for a year and returns to the page.
func (c *Console) switchLanguage(w http.ResponseWriter, r *http.Request, v *View) error {
	lang := c.catalog.Match(r.FormValue("lang"), "")
	if lang.String() != r.FormValue("lang") {
		return httpserver.Errorf(http.StatusBadRequest, "lang must be one of the console's languages (en, de), got %q", r.FormValue("lang"))
	}
	http.SetCookie(w, &http.Cookie{Name: LangCookie, Value: lang.String(), Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
	http.Redirect(w, r, localPath(r.FormValue("next")), http.StatusSeeOther)
	return nil
}

// Unauthenticated implements httpserver.PageResponder: a person without a session is sent to
// sign in and brought back afterwards. The console's script, fetching a fragment, gets a 401
// instead and reloads the page.
func (c *Console) Unauthenticated(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Console-Fragment") != "" {
		httpserver.WriteError(w, r, &httpserver.Error{Status: http.StatusUnauthorized, Name: "AuthenticationError", Message: "sign in again"})
		return
	}
	next := "/"
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		next = localPath(r.URL.RequestURI())
	}
	securityHeaders(http.RedirectHandler("/signin?next="+url.QueryEscape(next), http.StatusSeeOther)).ServeHTTP(w, r)
}

// Forbidden implements httpserver.PageResponder: an HTML 403 in the layout.
func (c *Console) Forbidden(w http.ResponseWriter, r *http.Request, err error) {
	securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := c.view(r, httpserver.Principal{Type: httpserver.PrincipalNone})
		c.fail(w, r, v, &httpserver.Error{Status: http.StatusForbidden, Message: err.Error()})
	})).ServeHTTP(w, r)
}

var (
	//go:embed pages/*.html
	pageFiles embed.FS
	//go:embed messages/*.yaml
	messageFiles embed.FS
)

// ownSection is the console's own pages (sign-in, errors) and its messages: the layout's,
// and those every section may use (common.*).
func (c *Console) ownSection() Section {
	return Section{Name: "console", Templates: mustSub(pageFiles, "pages"), Messages: i18n.Source{Name: "console", FS: mustSub(messageFiles, "messages")}}
}

// mustSub returns the embedded folder dir; embedding guarantees it exists.
func mustSub(f embed.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}
