package join

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kite-project/kite/server/tokens"
)

// A bootstrap token joins from the cache, without an API request of its
// own; once its Secret is deleted it is refused, and a new one joins.
func TestBootstrapTokensComeFromTheCache(t *testing.T) {
	h, _ := testHandler(t)
	client := fake.NewClientset(bootstrapSecret("abcdef", "0123456789abcdef", time.Now().Add(time.Hour)))
	// The watch is the test's: it sends the changes itself, so none is
	// lost between the informer's list and its watch.
	changes := watch.NewFakeWithChanSize(10, false)
	client.PrependWatchReactor("secrets", k8stesting.DefaultWatchReactor(changes, nil))
	h.Client = client
	c := &TokenCache{Client: client}
	h.Tokens = c
	ctx, cancel := context.WithCancel(t.Context())
	if err := c.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- c.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	readyCtx, readyCancel := context.WithTimeout(ctx, 10*time.Second)
	defer readyCancel()
	if err := c.Ready(readyCtx); err != nil {
		t.Fatal(err)
	}

	source := 0
	join := func(creds, node string) (int, string) {
		source++
		w, msg := post(h, creds, joinRequest(t, node, "a-node-password-of-some-length"), net.IPv4(198, 18, 4, byte(source)).String())
		return w.Code, msg
	}
	if code, msg := join("abcdef.0123456789abcdef", "edge-1"); code != 200 {
		t.Fatalf("a listed token: %d %q", code, msg)
	}
	for _, a := range client.Actions() {
		if l, ok := a.(k8stesting.ListAction); ok && a.GetResource().Resource == "secrets" {
			if got := l.GetListRestrictions().Fields.String(); got != tokens.TypeSelector() || a.GetNamespace() != tokens.Namespace {
				t.Errorf("the cache lists secrets of %q with %q, want only kube-system's %q", a.GetNamespace(), got, tokens.TypeSelector())
			}
		}
		if g, ok := a.(k8stesting.GetAction); ok && strings.HasPrefix(g.GetName(), tokens.SecretPrefix) {
			t.Errorf("a join read %s from the API", g.GetName())
		}
	}

	changes.Delete(bootstrapSecret("abcdef", "0123456789abcdef", time.Now().Add(time.Hour)))
	waitFor(t, "the deleted token refused", func() bool {
		code, msg := join("abcdef.0123456789abcdef", "edge-2")
		return code == http.StatusUnauthorized && msg == badToken
	})
	changes.Add(bootstrapSecret("ghijkl", "0123456789abcdef", time.Now().Add(time.Hour)))
	waitFor(t, "the new token joining", func() bool {
		code, _ := join("ghijkl.0123456789abcdef", "edge-3")
		return code == 200
	})
	if s, err := c.Bootstrap("zzzzzz"); s != nil || err != nil {
		t.Fatalf("an unknown token: %v %v", s, err)
	}
	var none *corev1.Secret
	if s, err := (&TokenCache{}).Bootstrap("abcdef"); s != none || err != errStarting {
		t.Fatalf("before the first list: %v %v", s, err)
	}
}
