package ledger

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nvskit/nvskit/internal/testpg"
)

// BenchmarkClaim measures claims per second with 1, 8 and 32 concurrent stations, each with
// its own connection to the ledger (as separate processes have), on SQLite and PostgreSQL.
func BenchmarkClaim(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		for _, stations := range []int{1, 8, 32} {
			b.Run(fmt.Sprintf("%s/stations=%d", backend, stations), func(b *testing.B) {
				var dsn string
				if backend == "sqlite" {
					dsn = filepath.Join(b.TempDir(), "ledger.db")
				} else {
					dsn = testpg.DSN(b)
				}
				l := initLedger(b, dsn)
				ctx := context.Background()
				if err := l.Add(ctx, serials(1, b.N), ""); err != nil {
					b.Fatal(err)
				}
				handles := make([]Ledger, stations)
				for i := range handles {
					handles[i] = openLedger(b, dsn)
				}
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				for _, h := range handles {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							if _, err := h.Claim(ctx, ClaimRequest{MAC: mac(int(i)), Station: "bench"}); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
			})
		}
	}
}
