package i18n_test

import (
	"fmt"
	"testing/fstest"
	"time"

	"github.com/stagebus/stagebus/console/i18n"
)

// A page package owns its messages (here in memory; a real page embeds messages/en.yaml and
// messages/de.yaml); the console builds one catalog from every page's Source and Messages, then
// picks a Localizer per request from the language cookie and Accept-Language.
func Example() {
	page := i18n.Source{Name: "console/examplepage", FS: fstest.MapFS{
		"en.yaml": {Data: []byte("events.count:\n  one: \"{{.Count}} event in {{.Topic}}\"\n  other: \"{{.Count}} events in {{.Topic}}\"\n")},
		"de.yaml": {Data: []byte("events.count:\n  one: \"{{.Count}} Ereignis in {{.Topic}}\"\n  other: \"{{.Count}} Ereignisse in {{.Topic}}\"\n")},
	}}
	catalog, err := i18n.NewCatalog(i18n.Messages, page)
	if err != nil {
		panic(err)
	}
	at := time.Date(2026, time.March, 7, 9, 5, 3, 0, time.FixedZone("CET", 3600))
	for _, accept := range []string{"de-CH;q=0.9,en;q=0.5", "fr"} {
		l := catalog.Localizer(catalog.Match("", accept))
		s, err := l.T("events.count", "Count", 1234, "Topic", "github")
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: %s | %s | %s\n", l.Tag(), s, l.Number(0.25), l.Time(at))
	}
	// Output:
	// de: 1.234 Ereignisse in github | 0,25 | 07.03.2026, 08:05:03 UTC
	// en: 1,234 events in github | 0.25 | 7 Mar 2026, 08:05:03 UTC
}
