package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kite-project/kite/pkg/config"
	"github.com/kite-project/kite/server/tokens"
)

// tokenCommand manages bootstrap tokens through the admin kubeconfig
// ($KUBECONFIG, else /etc/kite/kite.yaml), like kite kubectl.
func tokenCommand() *cli.Command {
	var ttl time.Duration
	var description string
	return &cli.Command{
		Name:         "token",
		Usage:        "manage bootstrap tokens that agents can join with",
		OnUsageError: usageError,
		Subcommands: []*cli.Command{
			{
				Name:         "create",
				Usage:        "make a bootstrap token and print it (K10<ca-hash>::<id>.<secret>)",
				OnUsageError: usageError,
				Flags: []cli.Flag{
					&cli.DurationFlag{Name: "ttl", Usage: "how long the token is valid (0: until deleted)", Value: 24 * time.Hour, Destination: &ttl},
					&cli.StringFlag{Name: "description", Usage: "what the token is for", Destination: &description},
				},
				Action: func(c *cli.Context) error {
					if ttl < 0 {
						return fmt.Errorf("--ttl %s is negative; give a duration such as 24h, or 0 for no expiry", ttl)
					}
					cs, ca, err := adminClient()
					if err != nil {
						return err
					}
					tok, err := tokens.Create(c.Context, cs, ca, ttl, description, time.Now())
					if err != nil {
						return fmt.Errorf("create token: %w", err)
					}
					fmt.Println(tok)
					return nil
				},
			},
			{
				Name:         "list",
				Usage:        "list the bootstrap tokens",
				OnUsageError: usageError,
				Action: func(c *cli.Context) error {
					cs, _, err := adminClient()
					if err != nil {
						return err
					}
					list, err := tokens.List(c.Context, cs)
					if err != nil {
						return fmt.Errorf("list tokens: %w", err)
					}
					w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(w, "ID\tEXPIRES\tDESCRIPTION")
					for _, t := range list {
						exp := "never"
						if !t.Expires.IsZero() {
							exp = t.Expires.Format(time.RFC3339)
							if time.Now().After(t.Expires) {
								exp += " (expired)"
							}
						}
						fmt.Fprintf(w, "%s\t%s\t%s\n", t.ID, exp, t.Description)
					}
					return w.Flush()
				},
			},
			{
				Name:         "delete",
				Usage:        "delete bootstrap tokens: kite token delete ID [ID…]",
				OnUsageError: usageError,
				Action: func(c *cli.Context) error {
					if c.Args().Len() == 0 {
						return fmt.Errorf("give the ID of the token to delete; see 'kite token list'")
					}
					cs, _, err := adminClient()
					if err != nil {
						return err
					}
					for _, id := range c.Args().Slice() {
						if err := tokens.Delete(context.Background(), cs, id); err != nil {
							return err
						}
						fmt.Printf("deleted bootstrap token %s\n", id)
					}
					return nil
				},
			},
		},
	}
}

// adminClient reads the kubeconfig kite kubectl would use, and returns a
// client with the CA that kubeconfig trusts (the token pins its hash).
func adminClient() (kubernetes.Interface, []byte, error) {
	path := os.Getenv("KUBECONFIG")
	if path == "" {
		path = config.DefaultKubeconfig
	}
	rc, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, nil, fmt.Errorf("kubeconfig %s: %w; run on the server as root, or set KUBECONFIG", path, err)
	}
	ca := rc.CAData
	if len(ca) == 0 && rc.CAFile != "" {
		if ca, err = os.ReadFile(rc.CAFile); err != nil {
			return nil, nil, err
		}
	}
	if len(ca) == 0 {
		return nil, nil, fmt.Errorf("kubeconfig %s names no CA certificate, so the token cannot pin it", path)
	}
	cs, err := kubernetes.NewForConfig(rc)
	return cs, ca, err
}
