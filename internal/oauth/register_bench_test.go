package oauth_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/mirror"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
)

// benchEngine returns an engine on a real store holding 10,000 apps with
// tokens, mirrored into ovos_utils' files (which hold the same 10,000 apps)
// by a running mirror.Writer, as the daemon does.
func benchEngine(b *testing.B) (*oauth.Engine, *mirror.Files) {
	b.Helper()
	dir := b.TempDir()
	db := storetest.Open(b, storetest.Path(filepath.Join(dir, "oauth.db")))
	b.Cleanup(func() { db.Close() })
	oauthtest.Seed(b, db, 10000, time.Now())
	files := mirror.New(filepath.Join(dir, "json_database"))
	files.LockDir = b.TempDir()
	e := oauth.NewEngine(db, nil, "http://192.0.2.1:36536", slog.New(slog.DiscardHandler))
	w := mirror.NewWriter(files, slog.New(slog.DiscardHandler))
	apps, err := db.Apps()
	if err != nil {
		b.Fatal(err)
	}
	for _, app := range apps {
		if err := w.PutApp(app, e.RedirectURI(app)); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		<-done
	})
	e.Mirror = w
	return e, files
}

func benchRegistration(skillID string) oauth.Registration {
	return oauth.Registration{
		SkillID: skillID, AppID: "app", ClientID: "client", ClientSecret: "secret",
		AuthEndpoint: "https://provider.example/authorize", TokenEndpoint: "https://provider.example/token",
		Scope: "read write", ShellIntegration: true, PKCE: true,
	}
}

// BenchmarkRegisterNew10k registers new apps from 8 skills at once beside
// 10,000 registered and mirrored apps: the boot-time storm. 1e9/ns_op is
// registrations per second.
func BenchmarkRegisterNew10k(b *testing.B) {
	e, _ := benchEngine(b)
	var n atomic.Int64
	b.SetParallelism(4) // 8 skills on this 2-core machine
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.Register(context.Background(), benchRegistration(fmt.Sprintf("new-%d.bench", n.Add(1)))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRegisterUnchanged10k re-registers apps that are already
// registered, as every skill does on every oauth.ping, from 8 skills at once.
func BenchmarkRegisterUnchanged10k(b *testing.B) {
	e, _ := benchEngine(b)
	for i := range 10000 { // as they register: the seed's apps lack a login mode
		if _, err := e.Register(context.Background(), benchRegistration(fmt.Sprintf("skill-%05d.bench", i))); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			skill := fmt.Sprintf("skill-%05d.bench", n.Add(1)%10000)
			if _, err := e.Register(context.Background(), benchRegistration(skill)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
