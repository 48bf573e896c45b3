package loadbalancer

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
)

// echoServer answers each line with its name and the line.
func echoServer(t *testing.T, name string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				io.WriteString(c, name+":"+line)
			}()
		}
	}()
	return ln.Addr().String()
}

func ask(t *testing.T, addr string) string {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "hello\n")
	reply, _ := bufio.NewReader(c).ReadString('\n')
	return reply
}

func TestFailsOverToAWorkingServer(t *testing.T) {
	// A port with nothing behind it: listen, then close.
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	live := echoServer(t, "b")

	lb := New("127.0.0.1:0", []string{deadAddr, live, deadAddr}, slog.New(slog.DiscardHandler))
	if len(lb.Servers()) != 2 {
		t.Fatalf("duplicates kept: %v", lb.Servers())
	}
	if err := lb.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go lb.Run(ctx)
	addr := lb.ln.Addr().String()

	if got := ask(t, addr); got != "b:hello\n" {
		t.Fatalf("through the balancer: %q", got)
	}
	if lb.Servers()[0] != live {
		t.Fatalf("the failed server is still first: %v", lb.Servers())
	}

	// A new list keeps the working server first.
	other := echoServer(t, "c")
	lb.SetServers([]string{other, live})
	if lb.Servers()[0] != live {
		t.Fatalf("SetServers dropped the current server from the front: %v", lb.Servers())
	}
	lb.SetServers(nil)
	if len(lb.Servers()) != 2 {
		t.Fatal("an empty list emptied the balancer")
	}
}

func TestBusyPortIsAClearError(t *testing.T) {
	busy, _ := net.Listen("tcp", "127.0.0.1:0")
	defer busy.Close()
	lb := New(busy.Addr().String(), []string{"127.0.0.1:1"}, slog.New(slog.DiscardHandler))
	if err := lb.Prepare(context.Background()); err == nil {
		t.Fatal("a busy port was taken")
	}
}
