// Package ports checks, before a component starts, that the TCP ports it
// will listen on are free: some upstream components exit the whole process
// when a port is taken (the kubelet), others fail late with a long error.
package ports

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// Port is one address a component listens on.
type Port struct {
	Addr string // host:port
	What string // who listens there, for the message
}

// Free returns an error naming the first port of ps that is in use.
func Free(ps ...Port) error {
	for _, p := range ps {
		ln, err := net.Listen("tcp", p.Addr)
		if err == nil {
			ln.Close()
			continue
		}
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("%s port %s is already in use by another program (another kubelet or Kubernetes distribution?); stop it first", p.What, p.Addr)
		}
		return fmt.Errorf("%s cannot listen on %s: %w", p.What, p.Addr, err)
	}
	return nil
}
