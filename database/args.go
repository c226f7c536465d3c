package database

import (
	"strconv"
	"strings"
)

// Args collects the arguments of a statement and numbers their placeholders $1, $2, …, the
// form both drivers accept.
type Args []any

// Add appends v and returns its placeholder.
func (a *Args) Add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// Where joins conditions with AND into " WHERE …", or returns "" when there are none.
func Where(conditions []string) string {
	if len(conditions) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conditions, " AND ")
}
