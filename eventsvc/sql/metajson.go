package sqlbus

import (
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/tidwall/gjson"
)

// appendMetadata appends m as JSON, byte for byte what encoding/json's Marshal writes (keys
// sorted, HTML characters and U+2028/U+2029 escaped, invalid UTF-8 replaced by U+FFFD), at
// a fraction of its cost: Marshal's reflection and sorted map walk were 7% of the server's
// CPU under ingest load, for two small string maps a webhook. FuzzAppendMetadata checks it
// against Marshal.
func appendMetadata(dst []byte, m message.Metadata) []byte {
	if m == nil {
		return append(dst, "null"...)
	}
	keys := make([]string, 0, len(m))
	size := 2
	for k, v := range m {
		keys = append(keys, k)
		size += len(k) + len(v) + 6
	}
	slices.Sort(keys)
	dst = slices.Grow(dst, size)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		dst = appendJSONString(dst, m[k])
	}
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json does with HTML escaping on.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// parseMetadata reads back what appendMetadata wrote: a JSON object of strings (null: empty).
// It walks the object with gjson instead of encoding/json's Unmarshal into a map, which was
// a tenth of the server's CPU under Kafka ingestion through the outbox, where the relay reads
// every message's metadata. Anything but an object of strings in valid UTF-8 (which
// appendMetadata always writes, and which encoding/json would repair) is an error.
// FuzzParseMetadata checks it against Unmarshal.
func parseMetadata(meta string) (message.Metadata, error) {
	if !utf8.ValidString(meta) || !gjson.Valid(meta) {
		return nil, errors.New("metadata is not valid JSON in UTF-8")
	}
	r := gjson.Parse(meta)
	if r.Type == gjson.Null {
		return message.Metadata{}, nil
	}
	if !r.IsObject() {
		return nil, errors.New("metadata is not a JSON object")
	}
	m := message.Metadata{}
	var err error
	r.ForEach(func(k, v gjson.Result) bool {
		if v.Type != gjson.String {
			err = fmt.Errorf("metadata %q is not a string", k.Str)
			return false
		}
		m[k.Str] = v.Str
		return true
	})
	return m, err
}
