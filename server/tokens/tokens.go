// Package tokens manages bootstrap tokens: short-lived join tokens kept, in
// the upstream format, as bootstrap.kubernetes.io/token Secrets in
// kube-system, so that they expire and can be deleted one by one. `kite
// token` uses it through the admin kubeconfig; the join endpoint checks
// them (server/join).
package tokens

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/kite-project/kite/pkg/token"
)

// The bootstrap-token Secret, in the upstream format (the API server's
// bootstrap authenticator and the controller-manager's tokencleaner read
// it too): what Create writes is what the join endpoint (server/join)
// reads, through these names only.
const (
	Namespace    = "kube-system"
	SecretPrefix = "bootstrap-token-" // + the token's ID
	SecretType   = corev1.SecretTypeBootstrapToken

	KeyID                  = "token-id"
	KeySecret              = "token-secret"
	KeyExpiration          = "expiration" // RFC 3339; absent: never
	KeyDescription         = "description"
	KeyUsageAuthentication = "usage-bootstrap-authentication" // "true": may join
	KeyUsageSigning        = "usage-bootstrap-signing"
	KeyExtraGroups         = "auth-extra-groups"
)

// SecretName is the name of the Secret of bootstrap token id.
func SecretName(id string) string { return SecretPrefix + id }

// TypeSelector is the field selector of the bootstrap-token Secrets.
func TypeSelector() string {
	return fields.OneTermEqualSelector("type", string(SecretType)).String()
}

// Token is a bootstrap token as listed.
type Token struct {
	ID          string
	Expires     time.Time // zero: never
	Description string
}

// Create makes a bootstrap token valid for ttl (0: until deleted) and
// returns it in the full form, pinned to the CA caPEM.
func Create(ctx context.Context, c kubernetes.Interface, caPEM []byte, ttl time.Duration, description string, now time.Time) (string, error) {
	raw, err := token.NewBootstrap()
	if err != nil {
		return "", err
	}
	id, secret, _ := strings.Cut(raw, ".")
	data := map[string][]byte{
		KeyID:                  []byte(id),
		KeySecret:              []byte(secret),
		KeyUsageAuthentication: []byte("true"),
		KeyUsageSigning:        []byte("true"),
		KeyExtraGroups:         []byte("system:bootstrappers:kite:default-node-token"),
	}
	if description != "" {
		data[KeyDescription] = []byte(description)
	}
	if ttl > 0 {
		data[KeyExpiration] = []byte(now.Add(ttl).UTC().Format(time.RFC3339))
	}
	_, err = c.CoreV1().Secrets(Namespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: SecretName(id)},
		Type:       SecretType,
		Data:       data,
	}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return token.Token{CAHash: token.HashCA(caPEM), Password: raw}.String(), nil
}

// List returns the bootstrap tokens, by ID.
func List(ctx context.Context, c kubernetes.Interface) ([]Token, error) {
	list, err := c.CoreV1().Secrets(Namespace).List(ctx, metav1.ListOptions{FieldSelector: TypeSelector()})
	if err != nil {
		return nil, err
	}
	var out []Token
	for _, s := range list.Items {
		t := Token{ID: string(s.Data[KeyID]), Description: string(s.Data[KeyDescription])}
		if exp := string(s.Data[KeyExpiration]); exp != "" {
			t.Expires, _ = time.Parse(time.RFC3339, exp)
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Delete removes the bootstrap token with the given ID (or given whole).
func Delete(ctx context.Context, c kubernetes.Interface, idOrToken string) error {
	id := idOrToken
	if t, err := token.Parse(idOrToken); err == nil {
		if tid, _, ok := t.Bootstrap(); ok {
			id = tid
		}
	}
	if len(id) != 6 {
		return fmt.Errorf("%q is not a bootstrap token ID (6 characters, see 'kite token list')", idOrToken)
	}
	err := c.CoreV1().Secrets(Namespace).Delete(ctx, SecretName(id), metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("no bootstrap token %s; see 'kite token list'", id)
	}
	return err
}
