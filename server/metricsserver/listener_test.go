package metricsserver

import (
	"errors"
	"net"
	"testing"
	"time"
)

// Before metrics-server accepts, a client's connection is closed at once
// (its request fails fast instead of hanging); after, it is served.
func TestClosedUntilServing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newClosedUntilServing(ln)
	defer l.Close()

	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	// Closed at once: the read ends with EOF or a reset, not the deadline.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Read(make([]byte, 1))
	var netErr net.Error
	if err == nil || errors.As(err, &netErr) && netErr.Timeout() {
		t.Fatalf("a connection before serving: read gave %v, want it closed at once", err)
	}
	c.Close()

	served := make(chan net.Conn, 1)
	go func() {
		if c, err := l.Accept(); err == nil {
			served <- c
		}
	}()
	for !l.serving.Load() {
		time.Sleep(time.Millisecond)
	}
	c, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case s := <-served:
		s.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("no connection was handed to the server once it accepted")
	}

	l.Close()
	if _, err := l.Accept(); err == nil {
		t.Fatal("Accept after Close returned no error")
	}
}

func TestAvailable(t *testing.T) {
	for raw, want := range map[string]bool{
		`{"status":{"conditions":[{"type":"Available","status":"True"}]}}`:                                  true,
		`{"status":{"conditions":[{"type":"Available","status":"False","reason":"FailedDiscoveryCheck"}]}}`: false,
		`{"status":{}}`: false,
		`not json`:      false,
		`{"status":{"conditions":[{"type":"Other","status":"True"},{"type":"Available","status":"True"}]}}`: true,
	} {
		if got := available([]byte(raw)); got != want {
			t.Errorf("available(%s) = %v, want %v", raw, got, want)
		}
	}
}
