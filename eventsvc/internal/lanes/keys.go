package lanes

import "sync"

// Keys lets at most one holder at a time work on a key. A subscription takes a key for every
// event it handles, live or replayed from the dead letters: the backend's lanes already hand
// over one live event per key at a time, and Keys extends that to replays, which do not come
// through the backend, so that a replay never runs beside a live event with the same key.
// The zero value is ready to use; it is safe for concurrent use. Keys nobody holds or waits
// for take no memory.
type Keys struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	held chan struct{} // a token is in it while the key is held
	refs int           // holders and waiters
}

// Acquire waits until the key is free and takes it, or returns false when stop closes
// first. The caller calls release exactly once when it is done with the key. Waiters are not
// served in any particular order.
func (k *Keys) Acquire(key string, stop <-chan struct{}) (release func(), ok bool) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyLock{held: make(chan struct{}, 1)}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	select {
	case <-stop: // checked first: a select picks at random among ready cases
		k.unref(key, l)
		return nil, false
	default:
	}
	select {
	case l.held <- struct{}{}:
		var once sync.Once
		return func() {
			once.Do(func() {
				<-l.held
				k.unref(key, l)
			})
		}, true
	case <-stop:
		k.unref(key, l)
		return nil, false
	}
}

// unref forgets a holder or waiter, and the key once nobody holds or waits for it.
func (k *Keys) unref(key string, l *keyLock) {
	k.mu.Lock()
	l.refs--
	if l.refs == 0 {
		delete(k.locks, key)
	}
	k.mu.Unlock()
}

// Len returns how many keys are held or waited for, for tests and metrics.
func (k *Keys) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.locks)
}
