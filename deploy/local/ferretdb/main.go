// Command ferretdb-local runs FerretDB v1 on SQLite on loopback for local development
// and tests. It embeds FerretDB instead of `go install`ing its binary, whose version
// file is missing from the module zip and makes it panic at start.
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	_ "net/http/pprof" // CPU profiles for the benchmarks (only with -pprof)
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	dataDir := flag.String("data", ".local/data/ferretdb", "SQLite data directory")
	pprofAddr := flag.String("pprof", "", "loopback address serving /debug/pprof (off when empty)")
	flag.Parse()

	if *pprofAddr != "" {
		go func() {
			log.Printf("ferretdb-local: pprof on %s", *pprofAddr)
			if err := http.ListenAndServe(*pprofAddr, nil); err != nil {
				log.Printf("ferretdb-local: pprof: %v", err)
			}
		}()
	}

	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		log.Fatalf("ferretdb-local: cannot create data dir %s: %v", *dataDir, err)
	}
	// Telemetry must never try to reach the internet.
	os.Setenv("FERRETDB_TELEMETRY", "disable")
	os.Setenv("DO_NOT_TRACK", "1")

	url := "file:" + *dataDir
	if url[len(url)-1] != '/' {
		url += "/"
	}
	// WAL with synchronous=NORMAL: a commit is durable once it is in the WAL, which survives
	// a crash or kill -9 of any process; only an OS crash or power loss may roll back the
	// last commits. That is what a standalone mongod acknowledges with w:1 (its journal is
	// flushed every 100 ms), and it takes the fsync (~1-2 ms here) out of every write.
	// FerretDB's own defaults (busy_timeout, journal_mode=wal, auto_vacuum) still apply.
	url += "?_pragma=synchronous(normal)"
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Handler:   "sqlite",
		SQLiteURL: url,
	})
	if err != nil {
		log.Fatalf("ferretdb-local: %v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Printf("ferretdb-local: listening on %s, data in %s", *listen, *dataDir)
	if err := f.Run(ctx); err != nil && ctx.Err() == nil {
		log.Fatalf("ferretdb-local: %v", err)
	}
}
