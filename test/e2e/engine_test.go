package e2e

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/specs"
	"github.com/haredis/haredis/internal/writeload"
)

// TestMoveRedisToValkey moves a RedisFailover from Redis 7.0 to Valkey 8.0
// by editing its image, under a write load through REDIS_URL (the proxy)
// and through Sentinel: the rolling update replaces the replicas, switches
// over, then replaces the old primary, and no acknowledged write is lost
// and no command fails through REDIS_URL. Then the way back, a move Redis
// 7.0 could not survive (it cannot read Valkey's RDB format), is refused
// before any pod restarts.
func TestMoveRedisToValkey(t *testing.T) {
	ns, rf, pw := newReadyRF(t, "move", withImage(redisImage))
	ctx := context.Background()
	url := strings.TrimPrefix(rf.Status.Endpoints.RedisURL, "redis://")
	viaURL := redis.NewClient(&redis.Options{Addr: url, Password: pw, Dialer: dial,
		DialTimeout: time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: time.Second, MaxRetries: -1})
	defer viaURL.Close()
	redistest.WaitFor(t, 2*time.Minute, "a write through REDIS_URL", func(ctx context.Context) error {
		return viaURL.Set(ctx, "before-move", "1", 0).Err()
	})
	viaSentinel := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName: rf.Status.MasterName, SentinelAddrs: []string{rf.Status.Endpoints.Sentinel},
		Password: pw, SentinelPassword: pw, Dialer: dial,
		DialTimeout: time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: time.Second,
	})
	defer viaSentinel.Close()
	urlLoad := writeload.Start(ctx, viaURL, writeload.Options{Prefix: "move-url", Interval: time.Millisecond, MaxDuration: 10 * time.Minute})
	sentinelLoad := writeload.Start(ctx, viaSentinel, writeload.Options{Prefix: "move-sentinel", Interval: time.Millisecond, MaxDuration: 10 * time.Minute})
	for _, l := range []*writeload.Load{urlLoad, sentinelLoad} {
		if err := l.WaitAcked(ctx, 200); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("redis 7.0 to valkey 8.0", func(t *testing.T) {
		patchRF(t, ns, "app", func(rf *haredisv1.RedisFailover) { rf.Spec.Redis.Image = valkeyImage })
		rf = waitFor2(t, ns, "app", 8*time.Minute, "every instance on Valkey", func(rf *haredisv1.RedisFailover) error {
			for _, is := range rf.Status.Instances {
				if !strings.HasPrefix(is.Server, "valkey ") {
					return fmt.Errorf("%s runs %q", is.Name, is.Server)
				}
			}
			if rf.Status.UpdatedInstances != 3 || !conditionTrue(rf, haredisv1.ConditionReady) || conditionTrue(rf, haredisv1.ConditionProgressing) {
				return fmt.Errorf("phase %s, updated %d, Progressing %+v", rf.Status.Phase, rf.Status.UpdatedInstances, meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionProgressing))
			}
			return nil
		})
		if rf.Status.LastSwitchover == nil || rf.Status.LastSwitchover.Reason != haredisv1.SwitchoverRollingUpdate || rf.Status.LastSwitchover.Result != haredisv1.SwitchoverSucceeded {
			t.Errorf("last switchover %+v; want the rolling update's, succeeded", rf.Status.LastSwitchover)
		}
		for _, l := range []*writeload.Load{urlLoad, sentinelLoad} {
			if err := l.WaitAcked(ctx, 200); err != nil {
				t.Fatalf("writes did not go on after the move: %v", err)
			}
		}
		urlRep, sentinelRep := urlLoad.Stop(), sentinelLoad.Stop()
		t.Logf("through REDIS_URL: %s", urlRep.Summary())
		t.Logf("through Sentinel: %s", sentinelRep.Summary())
		if len(urlRep.Failures) > 0 {
			t.Errorf("%d commands failed through REDIS_URL during the move, first %q", len(urlRep.Failures), urlRep.Failures[0].Err)
		}
		checkLost(t, urlRep, viaURL)
		checkLost(t, sentinelRep, viaURL)
		if v, err := viaURL.Get(ctx, "before-move").Result(); err != nil || v != "1" {
			t.Errorf("a key written on Redis before the move: %q, %v", v, err)
		}
		var sentinels corev1.PodList
		if err := kc.List(ctx, &sentinels, client.InNamespace(ns), client.MatchingLabels(specs.Selector(rf, specs.ComponentSentinel))); err != nil {
			t.Fatal(err)
		}
		for _, p := range sentinels.Items {
			if p.Spec.Containers[0].Image != valkeyImage {
				t.Errorf("sentinel %s runs %s; sentinels run their instances' engine", p.Name, p.Spec.Containers[0].Image)
			}
		}
	})

	t.Run("back to redis 7.0 is refused before any restart", func(t *testing.T) {
		before := podUIDs(t, ns, rf)
		patchRF(t, ns, "app", func(rf *haredisv1.RedisFailover) { rf.Spec.Redis.Image = redisImage })
		rf = waitFor2(t, ns, "app", 2*time.Minute, "ImageAccepted False", func(rf *haredisv1.RedisFailover) error {
			c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionImageAccepted)
			if c == nil || rf.Status.ObservedGeneration != rf.Generation || c.Reason != haredisv1.ReasonMoveRefused {
				return fmt.Errorf("ImageAccepted %+v", c)
			}
			return nil
		})
		c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionImageAccepted)
		for _, want := range []string{"spec.redis.image", "RDB format 11", "no pod was restarted"} {
			if !strings.Contains(c.Message, want) {
				t.Errorf("ImageAccepted message %q does not say %q", c.Message, want)
			}
		}
		if after := podUIDs(t, ns, rf); !maps.Equal(before, after) {
			t.Errorf("pods were replaced for a refused image: before %v, after %v", before, after)
		}
		patchRF(t, ns, "app", func(rf *haredisv1.RedisFailover) { rf.Spec.Redis.Image = valkeyImage })
		waitFor2(t, ns, "app", 2*time.Minute, "ImageAccepted True again", func(rf *haredisv1.RedisFailover) error {
			if !conditionTrue(rf, haredisv1.ConditionImageAccepted) || !conditionTrue(rf, haredisv1.ConditionReady) {
				return fmt.Errorf("ImageAccepted %+v", meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionImageAccepted))
			}
			return nil
		})
		if after := podUIDs(t, ns, rf); !maps.Equal(before, after) {
			t.Errorf("pods were replaced going back to the image they run: before %v, after %v", before, after)
		}
	})
}
