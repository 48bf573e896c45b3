package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrNotReady: the member does not serve yet.
var ErrNotReady = errors.New("etcd is not ready yet")

// MemberInUse is a refused AddLearner: a started member has the peer URL.
type MemberInUse struct{ Name, PeerURL string }

func (e *MemberInUse) Error() string {
	return fmt.Sprintf("etcd member %s already has the peer URL %s", e.Name, e.PeerURL)
}

// Client is the in-process client of this member, once it is ready
// (components started after the datastore), else nil.
func (e *Etcd) Client() *clientv3.Client { return e.readyClient() }

// readyClient is the in-process client once etcd is ready, else nil.
func (e *Etcd) readyClient() *clientv3.Client {
	select {
	case <-e.ready:
		return e.client
	default:
		return nil
	}
}

// AddLearner adds a member as a learner, which does not vote: the leader
// promotes it once it has caught up (tendLearners). It returns the
// member's --initial-cluster. A learner with the same peer URL that never
// started (a join cut short) is replaced; a started member with it is
// refused with a *MemberInUse.
func (e *Etcd) AddLearner(ctx context.Context, name, peerURL string) (string, error) {
	c := e.readyClient()
	if c == nil {
		return "", ErrNotReady
	}
	list, err := c.MemberList(ctx)
	if err != nil {
		return "", err
	}
	for _, m := range list.Members {
		if !slices.Contains(m.PeerURLs, peerURL) {
			continue
		}
		if m.Name != "" {
			return "", &MemberInUse{Name: m.Name, PeerURL: peerURL}
		}
		if _, err := c.MemberRemove(ctx, m.ID); err != nil {
			return "", fmt.Errorf("remove the learner left by an earlier join at %s: %w", peerURL, err)
		}
	}
	added, err := c.MemberAddAsLearner(ctx, []string{peerURL})
	if err != nil {
		return "", err
	}
	var cluster []string
	for _, m := range added.Members {
		n := m.Name
		if m.ID == added.Member.ID {
			n = name
		}
		if n == "" {
			continue // another learner that has not started: not in its cluster yet
		}
		for _, u := range m.PeerURLs {
			cluster = append(cluster, n+"="+u)
		}
	}
	e.log().Info("added an etcd learner", "name", name, "peer", peerURL)
	return strings.Join(cluster, ","), nil
}

// RemoveMember removes the member named name, if there is one.
func (e *Etcd) RemoveMember(ctx context.Context, name string) (bool, error) {
	c := e.readyClient()
	if c == nil {
		return false, ErrNotReady
	}
	list, err := c.MemberList(ctx)
	if err != nil {
		return false, err
	}
	for _, m := range list.Members {
		if m.Name == name {
			_, err := c.MemberRemove(ctx, m.ID)
			return err == nil, err
		}
	}
	return false, nil
}

// Members lists the members' names (started ones).
func (e *Etcd) Members(ctx context.Context) ([]string, error) {
	c := e.readyClient()
	if c == nil {
		return nil, ErrNotReady
	}
	list, err := c.MemberList(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, m := range list.Members {
		if m.Name != "" {
			names = append(names, m.Name)
		}
	}
	return names, nil
}

// How long a learner may take: to start (a join cut short never does),
// and to catch up and be promoted.
const (
	learnerStartTimeout   = 5 * time.Minute
	learnerPromoteTimeout = 30 * time.Minute
	tendEvery             = 5 * time.Second
)

// tendLearners, while this member leads, promotes the learners that caught
// up and removes those that never will.
func (e *Etcd) tendLearners(ctx context.Context, c *clientv3.Client) {
	t := &tender{cluster: clientCluster{c}, seen: map[uint64]time.Time{}, log: e.log()}
	tick := time.NewTicker(tendEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if e.etcd == nil || uint64(e.etcd.Server.Leader()) != uint64(e.etcd.Server.MemberID()) {
			clear(t.seen) // a new leader counts afresh
			continue
		}
		t.tend(ctx, time.Now())
	}
}

// member is what tend needs of an etcd member.
type member struct {
	ID      uint64
	Name    string // empty until the member starts
	Learner bool
}

// cluster is etcd's membership API (clientCluster; a fake in tests).
type cluster interface {
	List(ctx context.Context) ([]member, error)
	Promote(ctx context.Context, id uint64) error
	Remove(ctx context.Context, id uint64) error
}

type tender struct {
	cluster cluster
	seen    map[uint64]time.Time // learner → when this leader first saw it
	log     *slog.Logger
}

// tend is one round: each learner is promoted if etcd agrees (it refuses
// a learner that has not caught up); one that did not start within
// learnerStartTimeout, or is still a learner after learnerPromoteTimeout,
// is removed.
func (t *tender) tend(ctx context.Context, now time.Time) {
	ctx, cancel := context.WithTimeout(ctx, tendEvery)
	defer cancel()
	members, err := t.cluster.List(ctx)
	if err != nil {
		t.log.Debug("cannot list etcd members", "err", err)
		return
	}
	learners := map[uint64]bool{}
	for _, m := range members {
		if !m.Learner {
			continue
		}
		learners[m.ID] = true
		first, ok := t.seen[m.ID]
		if !ok {
			first = now
			t.seen[m.ID] = now
		}
		age := now.Sub(first)
		if m.Name == "" && age > learnerStartTimeout || age > learnerPromoteTimeout {
			if err := t.cluster.Remove(ctx, m.ID); err != nil {
				t.log.Warn("cannot remove a stuck etcd learner", "id", fmt.Sprintf("%x", m.ID), "name", m.Name, "err", err)
				continue
			}
			t.log.Warn("removed an etcd learner that did not start or catch up in time; its server must join again", "id", fmt.Sprintf("%x", m.ID), "name", m.Name, "waited", age.Round(time.Second))
			delete(t.seen, m.ID)
			continue
		}
		if m.Name == "" {
			continue // not started: nothing to promote yet
		}
		if err := t.cluster.Promote(ctx, m.ID); err != nil {
			t.log.Debug("etcd learner not promoted yet", "name", m.Name, "err", err)
			continue
		}
		t.log.Info("promoted an etcd learner to a voting member", "name", m.Name)
		delete(t.seen, m.ID)
	}
	for id := range t.seen {
		if !learners[id] {
			delete(t.seen, id)
		}
	}
}

type clientCluster struct{ c *clientv3.Client }

func (c clientCluster) List(ctx context.Context) ([]member, error) {
	resp, err := c.c.MemberList(ctx)
	if err != nil {
		return nil, err
	}
	var out []member
	for _, m := range resp.Members {
		out = append(out, member{ID: m.ID, Name: m.Name, Learner: m.IsLearner})
	}
	return out, nil
}

func (c clientCluster) Promote(ctx context.Context, id uint64) error {
	_, err := c.c.MemberPromote(ctx, id)
	return err
}

func (c clientCluster) Remove(ctx context.Context, id uint64) error {
	_, err := c.c.MemberRemove(ctx, id)
	return err
}
