package i18n_test

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/language"

	"github.com/stagebus/stagebus/console/i18n"
)

type eventCount uint16

func TestT(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	en, de := c.Localizer(language.English), c.Localizer(language.German)
	for _, tc := range []struct {
		l    *i18n.Localizer
		id   string
		args []any
		want string
	}{
		{en, "page.title", nil, "Events"},
		{de, "page.title", nil, "Ereignisse"},
		{en, "page.title", []any{"Unused", 1}, "Events"},
		{en, "page.greeting", []any{"Name", "Ada"}, "Hello, Ada!"},
		{de, "page.greeting", []any{"Name", "Ada"}, "Hallo, Ada!"},
		{en, "page.greeting", []any{"Name", "<b>"}, "Hello, <b>!"}, // plain text: html/template escapes it
		{en, "page.count", []any{"Count", 0}, "0 events"},
		{en, "page.count", []any{"Count", 1}, "1 event"},
		{en, "page.count", []any{"Count", -1}, "-1 event"},
		{en, "page.count", []any{"Count", 2}, "2 events"},
		{en, "page.count", []any{"Count", 1234}, "1,234 events"},
		{de, "page.count", []any{"Count", 0}, "0 Ereignisse"},
		{de, "page.count", []any{"Count", int64(1)}, "1 Ereignis"},
		{de, "page.count", []any{"Count", uint8(2)}, "2 Ereignisse"},
		{de, "page.count", []any{"Count", eventCount(1234)}, "1.234 Ereignisse"},
		{de, "page.count", []any{"Count", uint64(math.MaxUint64)}, "18.446.744.073.709.551.615 Ereignisse"},
		{en, "page.deadletters", []any{"Count", 1, "Topic", "github"}, "One dead letter in github"},
		{en, "page.deadletters", []any{"Topic", "github", "Count", 3}, "3 dead letters in github"},
		{de, "page.deadletters", []any{"Count", 1, "Topic", "github"}, "Ein unzustellbares Ereignis in github"},
		{de, "page.deadletters", []any{"Count", 3, "Topic", "github"}, "3 unzustellbare Ereignisse in github"},
		{en, "format.datetime", nil, "2 Jan 2006, 15:04:05 MST"},
		{de, "format.date", nil, "02.01.2006"},
	} {
		got, err := tc.l.T(tc.id, tc.args...)
		require.NoError(t, err, "%s %s %v", tc.l.Tag(), tc.id, tc.args)
		require.Equal(t, tc.want, got, "%s %s %v", tc.l.Tag(), tc.id, tc.args)
	}
}

func TestTErrors(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	en, de := c.Localizer(language.English), c.Localizer(language.German)
	for _, tc := range []struct {
		l    *i18n.Localizer
		id   string
		args []any
		is   error
		msg  string
	}{
		{en, "page.nope", nil, i18n.ErrUnknownID, `message "page.nope": unknown message id`},
		{de, "", nil, i18n.ErrUnknownID, `message "": unknown message id`},
		{en, "page.greeting", []any{"Name"}, i18n.ErrArgs, `message "page.greeting": bad message arguments: 1 values, not name, value pairs`},
		{en, "page.greeting", []any{1, "Ada"}, i18n.ErrArgs, `message "page.greeting": bad message arguments: argument 0 is 1, not a name`},
		{en, "page.greeting", []any{"", "Ada"}, i18n.ErrArgs, "not a name"},
		{en, "page.greeting", []any{"Name", "Ada", "Name", "Bob"}, i18n.ErrArgs, "Name given twice"},
		{en, "page.greeting", nil, i18n.ErrArgs, `message "page.greeting" in en: bad message arguments: template: :1:9: executing "" at <.Name>: map has no entry for key "Name"`},
		{de, "page.greeting", []any{"Nme", "Ada"}, i18n.ErrArgs, `map has no entry for key "Name"`},
		{en, "page.title", []any{"Count", 1}, i18n.ErrArgs, "a Count for a message without plural forms"},
		{en, "page.count", nil, i18n.ErrArgs, "no Count for a message with plural forms"},
		{en, "page.count", []any{"Num", 1}, i18n.ErrArgs, "no Count for a message with plural forms"},
		{en, "page.count", []any{"Count", 1.5}, i18n.ErrArgs, "the Count is a float64, not an integer"},
		{en, "page.count", []any{"Count", "3"}, i18n.ErrArgs, "the Count is a string, not an integer"},
		{en, "page.deadletters", []any{"Count", 2}, i18n.ErrArgs, `no entry for key "Topic"`},
	} {
		got, err := tc.l.T(tc.id, tc.args...)
		require.ErrorIs(t, err, tc.is, "%s %s %v", tc.l.Tag(), tc.id, tc.args)
		require.ErrorContains(t, err, tc.msg)
		require.Empty(t, got)
	}
}

func TestNumber(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	en, de := c.Localizer(language.English), c.Localizer(language.German)
	for _, tc := range []struct {
		v      any
		en, de string
	}{
		{1234.5, "1,234.5", "1.234,5"},
		{1234, "1,234", "1.234"},
		{0, "0", "0"},
		{-1234567, "-1,234,567", "-1.234.567"},
		{int8(-12), "-12", "-12"},
		{uint64(math.MaxUint64), "18,446,744,073,709,551,615", "18.446.744.073.709.551.615"},
		{int64(math.MinInt64), "-9,223,372,036,854,775,808", "-9.223.372.036.854.775.808"},
		{eventCount(65535), "65,535", "65.535"},
		{0.5, "0.5", "0,5"},
		{1234.5678, "1,234.568", "1.234,568"}, // at most three fraction digits
		{12.0, "12", "12"},
		{float32(1.1), "1.1", "1,1"},
		{1e21, "1,000,000,000,000,000,000,000", "1.000.000.000.000.000.000.000"},
		{math.NaN(), "NaN", "NaN"},
		{math.Inf(-1), "-∞", "-∞"},
		{"12345", "12345", "12345"}, // not a number: fmt.Sprint
		{nil, "<nil>", "<nil>"},
	} {
		require.Equal(t, tc.en, en.Number(tc.v), "en %#v", tc.v)
		require.Equal(t, tc.de, de.Number(tc.v), "de %#v", tc.v)
	}
}

func TestTimeDate(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	en, de := c.Localizer(language.English), c.Localizer(language.German)
	cet := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		t                              time.Time
		enTime, deTime, enDate, deDate string
	}{
		{time.Date(2026, time.March, 7, 9, 5, 3, 0, cet), "7 Mar 2026, 08:05:03 UTC", "07.03.2026, 08:05:03 UTC", "7 Mar 2026", "07.03.2026"},
		// Shown in UTC, so the date is the day before in Berlin's terms.
		{time.Date(2026, time.December, 1, 0, 30, 0, 0, cet), "30 Nov 2026, 23:30:00 UTC", "30.11.2026, 23:30:00 UTC", "30 Nov 2026", "30.11.2026"},
		{time.Date(2031, time.November, 23, 17, 48, 59, 999_999_999, time.UTC), "23 Nov 2031, 17:48:59 UTC", "23.11.2031, 17:48:59 UTC", "23 Nov 2031", "23.11.2031"},
	} {
		require.Equal(t, tc.enTime, en.Time(tc.t))
		require.Equal(t, tc.deTime, de.Time(tc.t))
		require.Equal(t, tc.enDate, en.Date(tc.t))
		require.Equal(t, tc.deDate, de.Date(tc.t))
	}
}

// TestConcurrent lets the race detector watch one catalog in use by many requests at once,
// including go-i18n's parse-once template cache.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				l := c.Localizer(c.Match("", []string{"en", "de-CH;q=0.9,en;q=0.5"}[(g+i)%2]))
				if _, err := l.T("page.deadletters", "Count", i, "Topic", "t"); err != nil {
					t.Error(err)
					return
				}
				if _, err := l.T("page.greeting", "Name", fmt.Sprint(i)); err != nil {
					t.Error(err)
					return
				}
				_ = l.Number(float64(i) * 1000.5)
				_ = l.Time(time.Unix(int64(i), 0))
			}
		})
	}
	wg.Wait()
}
