package kine

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/k3s-io/kine/pkg/server"
)

// slowWrites is a backend whose writes take a while and count how many run
// at once; its reads find what Create stored.
type slowWrites struct {
	server.Backend
	now, most atomic.Int32
}

func (b *slowWrites) write() {
	n := b.now.Add(1)
	for {
		m := b.most.Load()
		if n <= m || b.most.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(5 * time.Millisecond)
	b.now.Add(-1)
}

func (b *slowWrites) Create(ctx context.Context, key string, value []byte, lease int64) (int64, error) {
	b.write()
	return 7, nil
}

func (b *slowWrites) Get(ctx context.Context, key string, revision int64, keysOnly bool) (int64, *server.KeyValue, error) {
	return 7, &server.KeyValue{Key: key, CreateRevision: 7, ModRevision: 7}, nil
}

func (b *slowWrites) Update(ctx context.Context, key string, value []byte, revision, lease int64) (int64, *server.KeyValue, bool, error) {
	b.write()
	return 8, nil, true, nil
}

func (b *slowWrites) Delete(ctx context.Context, key string, revision int64) (int64, *server.KeyValue, bool, error) {
	b.write()
	return 9, nil, true, nil
}

func TestPostgresWritesLeaveConnectionsFree(t *testing.T) {
	for _, open := range []int{4, 5, 10, 16} {
		inner := &slowWrites{}
		b := checkedBackend{Backend: inner, writes: make(chan struct{}, WritesAtOnce(open))}
		var wg sync.WaitGroup
		for i := range 48 {
			wg.Go(func() {
				ctx := context.Background()
				var err error
				switch i % 3 {
				case 0:
					_, err = b.Create(ctx, "/k", nil, 0)
				case 1:
					_, _, _, err = b.Update(ctx, "/k", nil, 7, 0)
				default:
					_, _, _, err = b.Delete(ctx, "/k", 7)
				}
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		// Each write holds two connections; two are kept for kine's own.
		if most := int(inner.most.Load()); most*2+2 > open || most < 1 {
			t.Errorf("%d connections: %d writes at once", open, most)
		}
	}
}

func TestWriteWaitEndsWithItsRequest(t *testing.T) {
	b := checkedBackend{Backend: &slowWrites{}, writes: make(chan struct{}, 1)}
	b.writes <- struct{}{} // the one slot is taken
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.Create(ctx, "/k", nil, 0); err != context.DeadlineExceeded {
		t.Fatalf("a write waiting past its request's deadline: %v, want %v", err, context.DeadlineExceeded)
	}
}

func TestCreateNotStoredIsAnError(t *testing.T) {
	b := checkedBackend{Backend: lostCreate{&slowWrites{}}}
	if _, err := b.Create(context.Background(), "/k", nil, 0); err == nil {
		t.Fatal("a create the database does not hold was acknowledged")
	}
}

// lostCreate answers a create as done but holds nothing (kine's bug).
type lostCreate struct{ *slowWrites }

func (lostCreate) Get(ctx context.Context, key string, revision int64, keysOnly bool) (int64, *server.KeyValue, error) {
	return 7, nil, nil
}

// kine answers a create of a key whose deletion is not compacted yet with
// its current revision, not the key's: the key's own is returned.
func TestCreateAnswersTheKeysOwnRevision(t *testing.T) {
	for _, answered := range []int64{5, 12} {
		b := checkedBackend{Backend: otherRevision{&slowWrites{}, answered}}
		rev, err := b.Create(context.Background(), "/k", nil, 0)
		if err != nil || rev != 7 {
			t.Fatalf("create answered %d: revision %d, %v; want 7", answered, rev, err)
		}
	}
}

// otherRevision answers creates with a revision that is not the key's (7).
type otherRevision struct {
	*slowWrites
	answer int64
}

func (b otherRevision) Create(ctx context.Context, key string, value []byte, lease int64) (int64, error) {
	return b.answer, nil
}

// A key whose latest event is a later update is not this create's.
func TestCreateOfAnUpdatedKeyIsAnError(t *testing.T) {
	b := checkedBackend{Backend: updatedKey{&slowWrites{}}}
	if _, err := b.Create(context.Background(), "/k", nil, 0); err == nil {
		t.Fatal("accepted a key another client has updated since")
	}
}

type updatedKey struct{ *slowWrites }

func (updatedKey) Get(ctx context.Context, key string, revision int64, keysOnly bool) (int64, *server.KeyValue, error) {
	return 9, &server.KeyValue{Key: key, CreateRevision: 5, ModRevision: 9}, nil
}

func (updatedKey) Create(ctx context.Context, key string, value []byte, lease int64) (int64, error) {
	return 9, nil
}
