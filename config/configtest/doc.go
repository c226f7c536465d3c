// Package configtest builds configuration trees for tests.
package configtest
