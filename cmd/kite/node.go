package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kite-project/kite/server/noderemoval"
)

// nodeCommand manages the cluster's nodes through the admin kubeconfig,
// like kite token.
func nodeCommand() *cli.Command {
	return &cli.Command{
		Name:         "node",
		Usage:        "manage the cluster's nodes",
		OnUsageError: usageError,
		Subcommands: []*cli.Command{
			{
				Name:         "remove",
				Usage:        "lock a node out for good: kite node remove NAME (it can join again only with a token, as a new node)",
				ArgsUsage:    "NAME",
				OnUsageError: usageError,
				Action: func(c *cli.Context) error {
					if c.Args().Len() != 1 {
						return fmt.Errorf("give the name of one node to remove; see 'kite kubectl get nodes'")
					}
					node := c.Args().First()
					cs, _, err := adminClient()
					if err != nil {
						return err
					}
					if err := noderemoval.Remove(c.Context, cs, node, time.Now()); err != nil {
						return fmt.Errorf("remove node %s: %w", node, err)
					}
					// The servers refuse the node's certificates as soon as
					// they read the record, then delete its Node: wait for
					// that, so the command's success means it took effect.
					deadline := time.Now().Add(30 * time.Second)
					for {
						_, err := cs.CoreV1().Nodes().Get(c.Context, node, metav1.GetOptions{})
						if apierrors.IsNotFound(err) {
							break
						}
						if time.Now().After(deadline) {
							return fmt.Errorf("node %s is recorded as removed, but no server deleted its Node within 30 s; is kite server running? (%v)", node, err)
						}
						time.Sleep(200 * time.Millisecond)
					}
					fmt.Printf("node %s removed: its certificates are refused; it can join again only with a token, as a new node\n", node)
					return nil
				},
			},
		},
	}
}
