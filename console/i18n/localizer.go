package i18n

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"text/template"
	"time"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	i18ntemplate "github.com/nicksnyder/go-i18n/v2/i18n/template"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/number"
)

// ErrUnknownID is wrapped by the error of Localizer.T for an id that no message file defines.
var ErrUnknownID = errors.New("unknown message id")

// ErrArgs is wrapped by the error of Localizer.T for arguments that do not fit the message.
var ErrArgs = errors.New("bad message arguments")

// textParser executes messages as go-i18n does by default, except that a template that uses
// an argument nobody gave fails rather than printing "<no value>". It has no Funcs, so go-i18n
// caches each parsed template.
var textParser = &i18ntemplate.TextParser{Option: "missingkey=error"}

// Localizer renders messages, numbers and times in one language. Get one from
// Catalog.Localizer; it is safe for concurrent use.
type Localizer struct {
	tag      language.Tag
	cat      *Catalog
	loc      *i18n.Localizer
	printer  *message.Printer
	datetime string
	date     string
}

// Tag returns the localizer's language, one of Languages.
func (l *Localizer) Tag() language.Tag {
	return l.tag
}

// T renders message id; args are alternating name, value pairs used as template data ({{.Name}}
// in the message); a "Count" arg selects the plural form. A missing id or a bad argument list
// is an error.
//
// Count is an integer of any integer type; it is required by a message with plural forms and
// refused by one without. The message shows it formatted by Number ({{.Count}} is "1,234" in
// English, "1.234" in German); other values are shown as given, so format numbers that need it
// with Number. The result is plain text, for html/template to escape.
//
// The error wraps ErrUnknownID for an id no file defines, and ErrArgs for an odd number of
// args, a name that is not a non-empty string or is given twice, a bad Count, or a template
// that uses an argument not given (or fails on one given).
func (l *Localizer) T(id string, args ...any) (string, error) {
	plural, ok := l.cat.plural[id]
	if !ok {
		return "", fmt.Errorf("message %q: %w", id, ErrUnknownID)
	}
	data, count, err := l.data(plural, args)
	if err != nil {
		return "", fmt.Errorf("message %q: %w: %w", id, ErrArgs, err)
	}
	s, err := l.loc.Localize(&i18n.LocalizeConfig{MessageID: id, TemplateData: data, PluralCount: count, TemplateParser: textParser})
	if err != nil {
		if _, exec := errors.AsType[template.ExecError](err); exec {
			return "", fmt.Errorf("message %q in %s: %w: %w", id, l.tag, ErrArgs, err)
		}
		return "", fmt.Errorf("message %q in %s: %w", id, l.tag, err)
	}
	return s, nil
}

// data turns T's args into template data and go-i18n's plural count (nil without Count).
func (l *Localizer) data(plural bool, args []any) (map[string]any, any, error) {
	if len(args)%2 != 0 {
		return nil, nil, fmt.Errorf("%d values, not name, value pairs", len(args))
	}
	data := make(map[string]any, len(args)/2)
	var count any
	for i := 0; i < len(args); i += 2 {
		name, ok := args[i].(string)
		if !ok || name == "" {
			return nil, nil, fmt.Errorf("argument %d is %#v, not a name", i, args[i])
		}
		if _, dup := data[name]; dup {
			return nil, nil, fmt.Errorf("%s given twice", name)
		}
		v := args[i+1]
		if name == "Count" {
			if !plural {
				return nil, nil, errors.New("a Count for a message without plural forms")
			}
			c, err := pluralCount(v)
			if err != nil {
				return nil, nil, err
			}
			count, v = c, l.Number(v)
		}
		data[name] = v
	}
	if plural && count == nil {
		return nil, nil, errors.New("no Count for a message with plural forms")
	}
	return data, count, nil
}

// pluralCount converts an integer of any type to the int64 that go-i18n takes as a plural
// count. go-i18n has no uint64: one beyond int64 becomes 10¹⁸ plus its last 18 digits, which
// has the same plural form, as CLDR rules look at no more than the last 6 digits of a number
// that large.
func pluralCount(v any) (int64, error) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > math.MaxInt64 {
			const e18 = 1_000_000_000_000_000_000
			u = u%e18 + e18
		}
		return int64(u), nil
	}
	return 0, fmt.Errorf("the Count is a %T, not an integer", v)
}

// Number formats an integer or float for the language (1,234.5 / 1.234,5): digits grouped,
// floats rounded to at most three fraction digits. Values of other types are formatted by
// fmt.Sprint.
func (l *Localizer) Number(v any) string {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return l.printer.Sprint(number.Decimal(rv.Int()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return l.printer.Sprint(number.Decimal(rv.Uint()))
	case reflect.Float32, reflect.Float64:
		return l.printer.Sprint(number.Decimal(rv.Float()))
	}
	return fmt.Sprint(v)
}

// Time formats t in UTC with the layout of message "format.datetime" (en "2 Jan 2006, 15:04:05
// MST", de "02.01.2006, 15:04:05 MST"); MST shows as UTC.
func (l *Localizer) Time(t time.Time) string {
	return t.UTC().Format(l.datetime)
}

// Date formats t's date in UTC with the layout of message "format.date" (en "2 Jan 2006", de
// "02.01.2006").
func (l *Localizer) Date(t time.Time) string {
	return t.UTC().Format(l.date)
}
