package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/kite-project/kite/datastore/etcd"
	"github.com/kite-project/kite/pkg/config"
	"github.com/kite-project/kite/pkg/joinapi"
	"github.com/kite-project/kite/pkg/joinclient"
	"github.com/kite-project/kite/pkg/token"
	"github.com/kite-project/kite/server/pki"
)

// joinControlPlane makes this server a member of the control plane of the
// server at cfg.JoinURL: it pins that server's CA with the token, sends
// this server's settings and etcd member, and, once the server has said
// yes (and added the member to etcd as a learner), writes the cluster's
// shared CAs and keys and the member's name. It retries while the server
// cannot be reached. member gets the etcd cluster to join; cfg the
// cluster's agent token, if it has one.
func joinControlPlane(ctx context.Context, cfg *config.Server, p pki.PKI, member *etcd.Config, log *slog.Logger) error {
	tok, err := token.Parse(cfg.Token) // validated with the flags
	if err != nil {
		return err
	}
	name, err := etcd.NewMemberName(member.NamePrefix)
	if err != nil {
		return err
	}
	roots, _, err := joinclient.PinnedRoots(ctx, cfg.JoinURL, tok, log)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	req := joinapi.ServerRequest{Settings: sharedSettings(*cfg), EtcdName: name, EtcdPeerURL: etcd.PeerURL(member.IP, member.PeerPort)}
	var resp *joinapi.ServerResponse
	var r joinclient.Retry
	for {
		resp, err = joinclient.Post[joinapi.ServerResponse](ctx, client, cfg.JoinURL+joinapi.ServerJoinPath, tok.Credentials(), req)
		if err == nil {
			break
		}
		var fatal *joinclient.Error
		if errors.As(err, &fatal) {
			return err
		}
		log.Warn("joining the control plane did not complete; retrying", "server", cfg.JoinURL, "err", err, "in", r.Next())
		if err := r.Sleep(ctx); err != nil {
			return err
		}
	}
	if err := p.WriteShared(resp.Files); err != nil {
		return err
	}
	if err := etcd.WriteMemberName(member.NameFile, name); err != nil {
		return err
	}
	member.InitialCluster = resp.EtcdInitialCluster
	if resp.AgentToken != "" {
		cfg.AgentToken = resp.AgentToken
	}
	log.Info("joined the control plane; etcd starts as a learner", "server", cfg.JoinURL, "etcd-member", name)
	return nil
}

// rejoinIfRemoved asks the server at cfg.JoinURL whether this server's
// etcd member is still in the cluster. If the cluster says no (its node was
// deleted while it was down), the old etcd data is moved aside as
// db/etcd.removed-<time>, and this start joins as a new member. A server
// that cannot be asked within 30 s changes nothing: etcd starts on its data.
func rejoinIfRemoved(ctx context.Context, cfg config.Server, log *slog.Logger) error {
	layout := cfg.Layout()
	data, err := os.ReadFile(layout.EtcdNameFile())
	if err != nil {
		return nil // not a member kite named: nothing to ask
	}
	name := strings.TrimSpace(string(data))
	tok, err := token.Parse(cfg.Token)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	roots, _, err := joinclient.PinnedRoots(ctx, cfg.JoinURL, tok, log)
	if err == nil {
		client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
		var resp *joinapi.MemberResponse
		resp, err = joinclient.Post[joinapi.MemberResponse](ctx, client, cfg.JoinURL+joinapi.ServerMemberPath, tok.Credentials(), joinapi.MemberRequest{EtcdName: name})
		if err == nil && resp.Member {
			return nil
		}
		if err == nil {
			aside := fmt.Sprintf("%s.removed-%s", layout.EtcdDir(), time.Now().UTC().Format("20060102T150405Z"))
			if err := os.Rename(layout.EtcdDir(), aside); err != nil {
				return err
			}
			log.Warn("this server's etcd member was removed from the cluster (its node was deleted); its old etcd data is kept aside, and it joins again as a new member", "member", name, "kept", aside)
			return nil
		}
	}
	var fatal *joinclient.Error
	if errors.As(err, &fatal) {
		return err
	}
	log.Warn("cannot ask the cluster whether this server is still an etcd member; starting on its etcd data", "server", cfg.JoinURL, "err", err)
	return nil
}

// sharedSettings are this server's settings that every server of the
// cluster must share.
func sharedSettings(cfg config.Server) joinapi.Settings {
	s := joinapi.Settings{ClusterCIDR: cfg.ClusterCIDR, ServiceCIDR: cfg.ServiceCIDR, ClusterDNS: cfg.ClusterDNS, ClusterDomain: cfg.ClusterDomain}
	for _, a := range config.APIAddOns {
		if slices.Contains(cfg.Disable, a) {
			s.Disabled = append(s.Disabled, a)
		}
	}
	return s
}
