package ledger

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ledger init with --db naming another program's SQLite database refuses it, naming its
// tables, and leaves it as it was; an nvskit ledger and an empty file are taken.
func TestInitRefusesForeignDatabase(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "app.db")
	db, err := sql.Open("sqlite3", "file:"+p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('ada')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(p)
	l, err := OpenForInit(ctx, p)
	if err == nil {
		l.Init(ctx)
		l.Close()
		t.Fatal("another program's database was opened for init")
	}
	if !errors.Is(err, ErrForeignDatabase) || !strings.Contains(err.Error(), "users") || !strings.Contains(err.Error(), p) {
		t.Errorf("error %v", err)
	}
	if after, _ := os.ReadFile(p); !bytes.Equal(after, before) {
		t.Error("the database was changed")
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
		t.Errorf("files made next to it: %v", ents)
	}
	// An initialised ledger is opened for init again.
	own := filepath.Join(t.TempDir(), "l.db")
	initLedger(t, own).Close()
	if l, err := OpenForInit(ctx, own); err != nil {
		t.Errorf("OpenForInit of a ledger: %v", err)
	} else {
		l.Close()
	}
}
