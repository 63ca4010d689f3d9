package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/haredis/haredis/internal/sentinel"
)

// RunOptions is what `haredis proxy` needs to serve.
type RunOptions struct {
	Listen      string // client address, e.g. ":6379"
	AdminListen string // admin HTTP address, e.g. ":9090"; empty: none
	// Either StaticPrimary, or Sentinels and MasterName.
	StaticPrimary    string
	Sentinels        []string
	MasterName       string
	SentinelPassword string
	Proxy            Config
	// Ready, when set, is called with the bound addresses once serving.
	Ready func(client, admin net.Addr)
}

// Run serves the proxy and its admin endpoint, following the primary through
// the sentinels (or using the static one), until ctx ends.
func Run(ctx context.Context, o RunOptions) error {
	if o.StaticPrimary == "" && (len(o.Sentinels) == 0 || o.MasterName == "") {
		return errors.New("cannot run the proxy: give a static primary, or sentinels and a master name")
	}
	log := o.Proxy.Log
	srv := New(o.Proxy)
	defer srv.Close()
	l, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("cannot listen for clients: %w", err)
	}
	var adminAddr net.Addr
	if o.AdminListen != "" {
		al, err := net.Listen("tcp", o.AdminListen)
		if err != nil {
			l.Close()
			return fmt.Errorf("cannot listen for admin: %w", err)
		}
		adminAddr = al.Addr()
		hs := &http.Server{Handler: srv.AdminHandler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = hs.Serve(al) }()
		defer hs.Close()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watchErr := make(chan error, 1)
	if o.StaticPrimary != "" {
		srv.SetPrimary(o.StaticPrimary)
	} else {
		w := sentinel.NewWatcher(sentinel.Config{
			Addrs: o.Sentinels, MasterName: o.MasterName,
			SentinelPassword: o.SentinelPassword, RedisPassword: o.Proxy.Password,
			InUse: func() string { p, _ := srv.Primary(); return p },
			Log:   log.WithName("sentinel"),
		}, func(e sentinel.Event) {
			if e.New != "" {
				srv.SetPrimary(e.New)
			}
		})
		go func() { watchErr <- w.Run(ctx) }()
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(l) }()
	log.Info("proxy serving", "listen", l.Addr().String(), "admin", fmt.Sprint(adminAddr))
	if o.Ready != nil {
		o.Ready(l.Addr(), adminAddr)
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-serveErr:
		return err
	case err := <-watchErr:
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
}
