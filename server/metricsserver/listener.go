package metricsserver

import (
	"net"
	"sync"
	"sync/atomic"
)

// closedUntilServing is metrics-server's loopback listener between its
// binding (Prepare, before the API server starts) and the moment
// metrics-server first accepts (Run, after the API server is ready).
//
// The API server asks the metrics APIService for its discovery document
// from its own start, and its readiness waits for that answer (post-start
// hook apiservice-discovery-controller). A connection nobody accepts hangs
// until the request's timeout: a restart with the APIService stored
// reached /readyz ~3.4 s late, about every other start. Connections
// arriving before metrics-server accepts are closed at once instead, so
// that request fails fast. The API server's availability check of the
// APIService then backs off (up to 30 s) after those quick failures, so
// once metrics-server serves, kite touches the APIService (an annotation),
// which has it checked again at once (Server.announce).
type closedUntilServing struct {
	net.Listener
	serving atomic.Bool
	served  chan struct{} // closed by the first Accept
	conns   chan net.Conn
	err     error         // why the underlying Accept stopped; set before errc is closed
	errc    chan struct{} // closed when the underlying Accept stopped
	closed  chan struct{} // closed by Close
	once    sync.Once
}

func newClosedUntilServing(ln net.Listener) *closedUntilServing {
	l := &closedUntilServing{
		Listener: ln,
		served:   make(chan struct{}),
		conns:    make(chan net.Conn),
		errc:     make(chan struct{}),
		closed:   make(chan struct{}),
	}
	go l.acceptLoop()
	return l
}

func (l *closedUntilServing) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			l.err = err
			close(l.errc)
			return
		}
		if !l.serving.Load() {
			c.Close()
			continue
		}
		select {
		case l.conns <- c:
		case <-l.closed:
			c.Close()
			return
		}
	}
}

// Accept marks the listener serving: from now on connections are handed
// over instead of closed.
func (l *closedUntilServing) Accept() (net.Conn, error) {
	if !l.serving.Swap(true) {
		close(l.served)
	}
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.errc:
		return nil, l.err
	}
}

func (l *closedUntilServing) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}
