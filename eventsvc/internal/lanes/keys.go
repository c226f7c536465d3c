package lanes

import (
	"sync"
	"sync/atomic"
)

// Keys lets at most one holder at a time work on a key. A subscription takes a key for every
// event it handles, live or replayed from the dead letters: the backend's lanes already hand
// over one live event per key at a time, and Keys extends that to replays, which do not come
// through the backend, so that a replay never runs beside a live event with the same key.
// Keys are any comparable type (a struct of strings costs no concatenation per event). The
// zero value is ready to use; it is safe for concurrent use. Keys nobody holds or waits for
// take no memory.
type Keys[K comparable] struct {
	mu    sync.Mutex
	locks map[K]*keyLock
}

type keyLock struct {
	held    bool
	waiters int
	// handed carries the key from a release to one waiter (the key stays held meanwhile).
	handed chan struct{}
}

// keyLocks recycles the locks of keys nobody holds any more: a busy subscription takes and
// releases a key for every event.
var keyLocks = sync.Pool{New: func() any { return &keyLock{handed: make(chan struct{}, 1)} }}

// Acquire waits until the key is free and takes it, or returns false when stop closes
// first. The caller calls release exactly once when it is done with the key (further calls
// do nothing). Waiters are not served in any particular order.
func (k *Keys[K]) Acquire(key K, stop <-chan struct{}) (release func(), ok bool) {
	select {
	case <-stop: // checked first: a closed stop wins over a free key
		return nil, false
	default:
	}
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[K]*keyLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = keyLocks.Get().(*keyLock)
		k.locks[key] = l
	}
	if !l.held {
		l.held = true
		k.mu.Unlock()
		return k.releaser(key, l), true
	}
	l.waiters++
	k.mu.Unlock()
	select {
	case <-l.handed:
		return k.releaser(key, l), true
	case <-stop:
	}
	k.mu.Lock()
	select {
	case <-l.handed: // handed over just as stop closed: pass it on
		k.mu.Unlock()
		k.release(key, l)
		return nil, false
	default:
	}
	l.waiters--
	k.mu.Unlock()
	return nil, false
}

// releaser returns the release function of one holding of key.
func (k *Keys[K]) releaser(key K, l *keyLock) func() {
	var released atomic.Bool
	return func() {
		if !released.Swap(true) {
			k.release(key, l)
		}
	}
}

// release hands the key to a waiter, or frees it.
func (k *Keys[K]) release(key K, l *keyLock) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if l.waiters > 0 {
		l.waiters--
		l.handed <- struct{}{} // never blocks: one hand-over at a time, taken by its waiter
		return
	}
	l.held = false
	delete(k.locks, key)
	keyLocks.Put(l)
}

// Len returns how many keys are held or waited for, for tests and metrics.
func (k *Keys[K]) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.locks)
}
