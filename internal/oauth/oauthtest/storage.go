package oauthtest

import (
	"fmt"
	"reflect"
	"sync"
	"unsafe"

	"github.com/zitadel/oidc/v3/example/server/storage"
)

// The example storage generates a 2048-bit RSA signing key in each
// NewStorageWithClients, 70 ms of CPU; a test binary that starts a
// provider in each of its tests spent seconds on keys. The first storage
// of the process is made that way; the others are made from it with its
// key.
var (
	firstOnce sync.Once
	first     *storage.Storage
)

// newStorage is storage.NewStorageWithClients(users, clients) with the
// signing key of the process's first storage. It copies that storage's
// fields but for its lock, clients and user store: the maps the
// constructor left empty (auth requests, codes, tokens, refresh tokens,
// device and user codes) are new and empty, so providers share no state;
// the example's fixed service users and their keys, which it only reads,
// are shared, as is the key.
func newStorage(users storage.UserStore, clients map[string]*storage.Client) *storage.Storage {
	firstOnce.Do(func() { first = storage.NewStorageWithClients(users, nil) })
	st := new(storage.Storage)
	src, dst := reflect.ValueOf(first).Elem(), reflect.ValueOf(st).Elem()
	seen := map[string]bool{}
	for i := range dst.NumField() {
		f := dst.Type().Field(i)
		seen[f.Name] = true
		// Unexported fields: reached through their addresses.
		to := reflect.NewAt(f.Type, unsafe.Pointer(dst.Field(i).UnsafeAddr())).Elem()
		from := reflect.NewAt(f.Type, unsafe.Pointer(src.Field(i).UnsafeAddr())).Elem()
		switch {
		case f.Name == "lock":
		case f.Name == "clients":
			to.Set(reflect.ValueOf(clients))
		case f.Name == "userStore":
			to.Set(reflect.ValueOf(users))
		case f.Type.Kind() == reflect.Map && from.Len() == 0:
			to.Set(reflect.MakeMap(f.Type))
		default:
			to.Set(from)
		}
	}
	for _, name := range []string{"lock", "clients", "userStore", "signingKey"} {
		if !seen[name] {
			// Another version of the example: better to fail than to share
			// what should not be.
			panic(fmt.Sprintf("oauthtest: the example storage has no field %s; newStorage needs updating", name))
		}
	}
	return st
}
