package controller

import (
	"errors"
	"net"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/sentinel"
	"github.com/haredis/haredis/internal/specs"
)

// Each sentinel pod's answer, in words that do not change with the
// error's details; a pod that was not asked is left out.
func TestSentinelViews(t *testing.T) {
	rf := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "app"}}
	pod := func(name, ip string) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{PodIP: ip}}
	}
	addr := func(ip string) string { return net.JoinHostPort(ip, strconv.Itoa(specs.SentinelPort)) }
	host, port := PodReach{}.InstanceAddr(rf, "app-2")
	primary := net.JoinHostPort(host, strconv.Itoa(port))
	st := &state{sentinels: []corev1.Pod{pod("app-sentinel-3", "10.0.0.3"), pod("app-sentinel-1", "10.0.0.1"), pod("app-sentinel-2", "10.0.0.2"), pod("app-sentinel-4", "")}}
	st.view.answers = []sentinel.Master{
		{Sentinel: addr("10.0.0.1"), Addr: primary, ConfigEpoch: 4},
		{Sentinel: addr("10.0.0.2"), Err: errors.New("dial tcp 10.0.0.2:26379: i/o timeout")},
		{Sentinel: addr("10.0.0.3"), Unknown: true},
	}
	r := &RedisFailoverReconciler{Reach: PodReach{}}
	got := r.sentinelViews(rf, st)
	want := []haredisv1.SentinelView{
		{Name: "app-sentinel-1", Primary: "app-2", ConfigEpoch: 4},
		{Name: "app-sentinel-2", Problem: "did not answer"},
		{Name: "app-sentinel-3", Problem: "does not monitor the master"},
	}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("views %+v, want %+v", got, want)
	}
}
