package lanes

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(t *testing.T, k *Keys[string])
	}{
		{"a held key makes the next holder wait until release", func(t *testing.T, k *Keys[string]) {
			release, ok := k.Acquire("a", nil)
			require.True(t, ok)
			got := make(chan func(), 1)
			go func() {
				r, ok := k.Acquire("a", nil)
				if ok {
					got <- r
				}
			}()
			select {
			case <-got:
				t.Fatal("a second holder took a held key")
			default:
			}
			release()
			(<-got)()
		}},
		{"different keys do not wait for each other", func(t *testing.T, k *Keys[string]) {
			ra, ok := k.Acquire("a", nil)
			require.True(t, ok)
			rb, ok := k.Acquire("b", nil)
			require.True(t, ok)
			require.Equal(t, 2, k.Len())
			ra()
			rb()
		}},
		{"stop ends a wait", func(t *testing.T, k *Keys[string]) {
			release, ok := k.Acquire("a", nil)
			require.True(t, ok)
			stop := make(chan struct{})
			close(stop)
			_, ok = k.Acquire("a", stop)
			require.False(t, ok)
			release()
		}},
		{"stop wins over a free key", func(t *testing.T, k *Keys[string]) {
			stop := make(chan struct{})
			close(stop)
			_, ok := k.Acquire("a", stop)
			require.False(t, ok)
		}},
		{"release twice releases once", func(t *testing.T, k *Keys[string]) {
			release, ok := k.Acquire("a", nil)
			require.True(t, ok)
			release()
			release()
			again, ok := k.Acquire("a", nil)
			require.True(t, ok)
			other := make(chan struct{})
			go func() {
				if r, ok := k.Acquire("a", nil); ok {
					r()
				}
				close(other)
			}()
			again()
			<-other
		}},
		{"holders exclude each other while waiters give up", func(t *testing.T, k *Keys[string]) {
			var holders, most atomic.Int32
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for i := range 50 {
				wg.Go(func() {
					for range 200 {
						release, ok := k.Acquire("a", stop)
						if !ok {
							return
						}
						n := holders.Add(1)
						for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
						}
						holders.Add(-1)
						release()
					}
					if i == 0 {
						close(stop) // the others give up, some while a release hands them the key
					}
				})
			}
			wg.Wait()
			require.Equal(t, int32(1), most.Load())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var k Keys[string]
			tt.run(t, &k)
			require.Zero(t, k.Len(), "keys nobody holds are forgotten")
		})
	}
}
