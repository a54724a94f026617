// Package testpg gives tests a fresh PostgreSQL database on the throwaway cluster that
// scripts/test-postgres starts. Only tests import it.
package testpg

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	// pgx's database/sql driver, as the ledger uses it.
	_ "github.com/jackc/pgx/v5/stdlib"
)

// Env is the variable holding the cluster's DSN.
const Env = "NVSKIT_TEST_POSTGRES"

// Start is the command that starts a cluster and sets Env.
const Start = `eval "$(scripts/test-postgres start)"`

// DSN creates an empty database for the test, dropped when it ends, and returns its DSN. It
// skips the test when no cluster is configured, and fails it when the CI variable is set.
func DSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(Env)
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set; CI must start PostgreSQL: %s", Env, Start)
		}
		t.Skipf("needs PostgreSQL: from the repository root run %s, then go test again", Start)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", Env, err)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	rand.Read(b)
	name := "t_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating a test database on %s: %v", base, err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u.Path = "/" + name
	return u.String()
}
