package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/haredis/haredis/internal/certs"
	"github.com/haredis/haredis/internal/secretfile"
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
	// PasswordFile, when set, is where Proxy.Password came from: the proxy
	// reads it again every CredentialsReload, with PreviousPasswordFile
	// (the password a rotation replaces, accepted from clients too; empty
	// outside a rotation) and SentinelPasswordFile (else the sentinels take
	// the same password), so that a rotation of the password needs no
	// restart.
	PasswordFile, PreviousPasswordFile, SentinelPasswordFile string
	// CredentialsReload is the pace of those reads (default 2 s).
	CredentialsReload time.Duration
	// TLSDir, when set, holds a mounted certificate Secret (tls.crt,
	// tls.key, ca.crt): clients must speak TLS, served with tls.crt, and
	// the instances and sentinels are reached over TLS, their chain
	// verified against ca.crt. The files are read again when they change,
	// so a renewed certificate is served at the next handshake. It sets
	// Proxy.TLS and Proxy.UpstreamTLS.
	TLSDir string
	Proxy  Config
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
	if o.TLSDir != "" {
		files := certs.NewFiles(o.TLSDir)
		// Read once here, so that a missing or broken Secret stops the
		// proxy at its start rather than failing every handshake.
		if _, err := files.Certificate(); err != nil {
			return fmt.Errorf("cannot serve TLS: %w", err)
		}
		if _, err := files.Pool(); err != nil {
			return fmt.Errorf("cannot serve TLS: %w", err)
		}
		o.Proxy.TLS, o.Proxy.UpstreamTLS = files.ServerConfig(), files.ClientConfig()
	}
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
	var sentinelPW atomic.Pointer[string]
	sentinelPW.Store(&o.SentinelPassword)
	if o.PasswordFile != "" && o.Proxy.Password != "" {
		go reloadCredentials(ctx, o, srv, &sentinelPW)
	}
	watchErr := make(chan error, 1)
	if o.StaticPrimary != "" {
		srv.SetPrimary(o.StaticPrimary)
	} else {
		w := sentinel.NewWatcher(sentinel.Config{
			Addrs: o.Sentinels, MasterName: o.MasterName,
			Passwords: func() (string, string, string) { return *sentinelPW.Load(), srv.password(), srv.previousPassword() },
			InUse:     func() string { p, _ := srv.Primary(); return p },
			TLS:       o.Proxy.UpstreamTLS,
			Log:       log.WithName("sentinel"),
		}, func(e sentinel.Event) {
			if e.New != "" {
				srv.SetPrimary(e.New)
			}
		})
		go func() { watchErr <- w.Run(ctx) }()
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(l) }()
	log.Info("proxy serving", "listen", l.Addr().String(), "admin", fmt.Sprint(adminAddr), "tls", o.Proxy.TLS != nil)
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

// reloadCredentials reads the password files again every
// o.CredentialsReload until ctx ends, and puts what they hold in force: a
// rotation's new password, the previous one's hash while the rotation
// lasts, the sentinels' password. A file that cannot be read leaves the
// credentials as they were (the kubelet replaces the files atomically, so
// this is a missing key or a removed volume) and is logged once.
func reloadCredentials(ctx context.Context, o RunOptions, srv *Server, sentinelPW *atomic.Pointer[string]) {
	every := o.CredentialsReload
	if every <= 0 {
		every = 2 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	lastErr := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pw, prev, spw, err := ReadCredentials(o)
		if err != nil {
			if err.Error() != lastErr {
				o.Proxy.Log.Error(err, "cannot read the credentials again; keeping those in force")
				lastErr = err.Error()
			}
			continue
		}
		lastErr = ""
		if pw != srv.password() {
			o.Proxy.Log.Info("a new password is in force (a rotation)", "previousAccepted", prev != "")
		}
		srv.SetPassword(pw, prev)
		sentinelPW.Store(&spw)
	}
}

// ReadCredentials reads the password files of o: the password, the
// previous one ("" when its file is empty or missing) and the sentinels'.
func ReadCredentials(o RunOptions) (password, previous, sentinelPassword string, err error) {
	if password, err = secretfile.Read(o.PasswordFile); err != nil {
		return "", "", "", fmt.Errorf("cannot read the password: %w", err)
	}
	if o.PreviousPasswordFile != "" {
		b, err := os.ReadFile(o.PreviousPasswordFile)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", "", "", fmt.Errorf("cannot read the previous password: %w", err)
		}
		previous = strings.TrimRight(string(b), "\r\n")
	}
	sentinelPassword = password
	if o.SentinelPasswordFile != "" {
		if sentinelPassword, err = secretfile.Read(o.SentinelPasswordFile); err != nil {
			return "", "", "", fmt.Errorf("cannot read the sentinels' password: %w", err)
		}
	}
	return password, previous, sentinelPassword, nil
}
