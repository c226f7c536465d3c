// Package i18n holds the operator console's message catalogs and formats numbers and times
// for the viewer's language. English (the default) and German ship; see [Languages].
//
// # Message files
//
// Message files belong to the packages that use them. Each package embeds a messages folder
// with en.yaml and de.yaml and exports it as a [Source]; the console passes every Source, and
// this package's own [Messages], to [NewCatalog]:
//
//	//go:embed messages/en.yaml messages/de.yaml
//	var files embed.FS
//
//	// Messages are the messages of this page, for i18n.NewCatalog.
//	var Messages = i18n.Source{Name: "console/eventspage", FS: i18n.Sub(files, "messages")}
//
// A file is a flat YAML map from message id to message. A message is a string, or, for a
// message shown with a count, a map of the CLDR plural forms its language uses (English and
// German: one and other):
//
//	events.title: Events
//	events.count:
//	  one: "{{.Count}} event"
//	  other: "{{.Count}} events"
//
// Messages are text/template templates whose data are the arguments of [Localizer.T]. They
// are plain text: html/template escapes them where a page inserts them. [NewCatalog] reports
// every problem of every file at once as [Problems]: an id defined twice, an id missing from a
// language, a plural form missing or unused, a template that does not parse, a translation that
// uses an argument the English text does not. Each page package's tests call [CheckSource] on
// its own Source, so a missing translation fails next to the page that lacks it.
//
// # Languages and formatting
//
// [Catalog.Match] picks a language from the console's language cookie and the
// Accept-Language header; [Catalog.Localizer] returns its [Localizer], which renders messages
// ([Localizer.T]), numbers ([Localizer.Number]: 1,234.5 or 1.234,5) and times in UTC with the
// layouts of the messages format.datetime and format.date ([Localizer.Time], [Localizer.Date]).
// The console shows times inside <time datetime=…> and its script rewrites them to the
// viewer's time zone.
//
// A Catalog and its Localizers do not change after NewCatalog and are safe for concurrent use.
package i18n
