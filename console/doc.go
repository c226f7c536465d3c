// Package console serves Stagebus's operator console: server-rendered HTML pages at /, for
// people signed in with the session cookie, in English and German.
//
// The console itself is the frame: the layout and navigation, the sign-in page (the
// configured providers, the guest in development), sign-out, the language switch, the
// security headers (a strict Content-Security-Policy without inline script or style), the
// embedded, content-hashed assets, and the answers to refused pages (303 to /signin, an HTML
// 403). The pages come from sections: packages such as console/eventspage that join the
// "console.sections" group with [AsSection]. A section brings its templates and its
// messages (en.yaml and de.yaml, checked to have the same ids) and declares its pages with
// their policy; a handler renders with [View.Render], which formats for the person's
// language.
//
// Templates are html/template files parsed once at start-up: a template that does not parse
// or names a message that does not exist fails start-up. Each page file defines "title" and
// "content", and may define fragments that [View.RenderFragment] renders alone. Functions
// available in templates: t (a message: t "id" "Name" value …), num and datetime (for
// the page's language), iso (RFC 3339 for <time datetime>), asset (the hashed path of an
// asset), and path (escapes one path segment; values in a URL's query need nothing, as
// html/template escapes them there).
package console
